"""Metrics of the storage layer: plain counters and fixed log2-bucket histograms.

Owns the numbers only; every bump is O(1) and allocation-free so it can sit on the append and
flush paths. Never exports anything itself: the runtime's metrics will read statistics().
"""

from __future__ import annotations

import time

BUCKETS = 40  # bucket i counts values in [2**(i-1), 2**i); bucket 0 counts values < 1


class Log2Histogram:
    """Counts of non-negative integer observations in power-of-two buckets."""

    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.count = 0
        self.total = 0

    def observe(self, value: int) -> None:
        index = int(value).bit_length() if value > 0 else 0
        self.counts[index if index < BUCKETS else BUCKETS - 1] += 1
        self.count += 1
        self.total += int(value)

    def quantile(self, q: float) -> int:
        """Upper bound of the bucket holding the q-quantile (0 when empty)."""
        rank = q * self.count
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if n and seen >= rank:
                return 1 << index if index else 0
        return 0

    def statistics(self) -> dict[str, int]:
        return {
            "count": self.count,
            "sum": self.total,
            "p50": self.quantile(0.5),
            "p99": self.quantile(0.99),
            "p999": self.quantile(0.999),
        }


class StorageProbe:
    """Per-shard storage metrics with intent-named bumps."""

    def __init__(self) -> None:
        self.started_s = time.monotonic()
        self.appended_batches = 0
        self.appended_bytes = 0
        self.flushes = 0
        self.syncs = 0
        self.flushed_bytes = 0
        self.flush_latency_us = Log2Histogram()
        self.flush_bytes = Log2Histogram()
        self.durable_append_latency_us = Log2Histogram()
        self.cache_hits = 0
        self.cache_misses = 0
        self.disk_reads = 0
        self.disk_read_bytes = 0
        self.corrupt_batches = 0
        self.torn_tails_truncated = 0
        self.truncated_bytes = 0
        self.indexes_rebuilt = 0
        self.io_errors = 0
        self.disk_full_errors = 0
        self.segments_deleted = 0
        self.segments_compacted = 0
        self.compaction_records_removed = 0

    def appended(self, size_bytes: int) -> None:
        self.appended_batches += 1
        self.appended_bytes += size_bytes

    def flushed(self, latency_us: int, size_bytes: int, syncs: int) -> None:
        self.flushes += 1
        self.syncs += syncs
        self.flushed_bytes += size_bytes
        self.flush_latency_us.observe(latency_us)
        self.flush_bytes.observe(size_bytes)

    def durable_append_completed(self, latency_us: int) -> None:
        self.durable_append_latency_us.observe(latency_us)

    def cache_hit(self) -> None:
        self.cache_hits += 1

    def cache_missed(self) -> None:
        self.cache_misses += 1

    def read_from_disk(self, size_bytes: int) -> None:
        self.disk_reads += 1
        self.disk_read_bytes += size_bytes

    def corrupt_batch_found(self) -> None:
        self.corrupt_batches += 1

    def torn_tail_truncated(self, size_bytes: int) -> None:
        self.torn_tails_truncated += 1
        self.truncated_bytes += size_bytes

    def index_rebuilt(self) -> None:
        self.indexes_rebuilt += 1

    def io_failed(self, disk_full: bool) -> None:
        self.io_errors += 1
        self.disk_full_errors += int(disk_full)

    def segment_deleted(self) -> None:
        self.segments_deleted += 1

    def segment_compacted(self, records_removed: int) -> None:
        self.segments_compacted += 1
        self.compaction_records_removed += records_removed

    def statistics(self) -> dict[str, object]:
        elapsed_s = max(time.monotonic() - self.started_s, 1e-9)
        stats: dict[str, object] = {
            name: value for name, value in vars(self).items() if isinstance(value, int)
        }
        stats["syncs_per_s"] = self.syncs / elapsed_s
        stats["flush_latency_us"] = self.flush_latency_us.statistics()
        stats["flush_bytes"] = self.flush_bytes.statistics()
        stats["durable_append_latency_us"] = self.durable_append_latency_us.statistics()
        return stats
