"""Metrics of the storage layer: counters bumped by intent, and log2 histograms.

Owns the numbers and their export: every bump is O(1) and allocation-free so it can sit on the
append and flush paths; `register()` puts them in the shard's metrics registry (names
`panda_storage_*`, read at scrape time), and `statistics()` gives them as a dict.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping

from panda.runtime.metrics import Log2Histogram, MetricsRegistry

# (probe attribute, help): exported as panda_storage_<attribute>_total
_COUNTERS = (
    ("appended_bytes", "Bytes appended to partition logs"),
    ("flushes", "Group-commit flush cycles"),
    ("syncs", "fdatasync calls"),
    ("flushed_bytes", "Bytes written by flush cycles"),
    ("cache_hits", "Reads served by the batch cache"),
    ("cache_misses", "Reads that went to the segment files"),
    ("disk_read_bytes", "Bytes read from segment files"),
    ("corrupt_batches", "Corrupt batches found (never served)"),
    ("io_errors", "Storage I/O errors"),
    ("disk_full_errors", "Disk-full errors"),
    ("segments_deleted", "Segments deleted by retention"),
    ("segments_compacted", "Segments rewritten by compaction"),
    ("torn_tails_truncated", "Torn segment tails cut by recovery"),
    ("truncated_bytes", "Bytes cut from torn segment tails by recovery"),
    ("indexes_rebuilt", "Segment indexes rebuilt by recovery"),
)
# (BatchCache.statistics() key, kind, help): exported as panda_storage_batch_cache_<key>
_CACHE_STATS = (
    ("size_bytes", "gauge", "Bytes of batches in the batch cache"),
    ("spare_bytes", "gauge", "Batch cache memory kept for reuse"),
    ("reuses", "counter", "Large batches cached in memory reused from evicted ones"),
)


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
        self.flush_bytes = Log2Histogram()  # bytes: read by statistics(), not exported
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

    def register(
        self, metrics: MetricsRegistry, cache: Callable[[], Mapping[str, int] | None]
    ) -> None:
        """Export this probe in `metrics`; `cache()` is the batch cache's statistics (None
        while the log manager is stopped: its gauges read 0)."""
        for attribute, what in _COUNTERS:
            read = functools.partial(getattr, self, attribute)
            metrics.counter(f"panda_storage_{attribute}_total", what, read)

        def cache_stat(key: str) -> float:
            stats = cache()
            return float(stats[key]) if stats is not None else 0.0

        for key, kind, what in _CACHE_STATS:
            name = f"panda_storage_batch_cache_{key}" + ("_total" if kind == "counter" else "")
            getattr(metrics, kind)(name, what, functools.partial(cache_stat, key))
        metrics.histogram_of(
            "panda_storage_flush_latency_seconds",
            "Write + fdatasync time of one group-commit cycle",
            self.flush_latency_us,
        )

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
