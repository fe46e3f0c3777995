"""Metrics of the broker on one shard, bumped by intent: the Kafka API (requests and latency
per API, connections, rejects) in KafkaProbe, partitions (traffic per topic, offsets per
partition) in PartitionProbe. Every name starts with `panda_kafka_`.

Owns counters and the registration of gauges over live state; never reads a clock or does I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from panda.runtime.metrics import Log2Histogram, MetricsRegistry


class KafkaProbe:
    def __init__(self, metrics: MetricsRegistry):
        self._metrics = metrics
        self.connections = 0
        self.rejected = 0
        self.trailing = 0
        self._latency: dict[int, Log2Histogram] = {}
        metrics.gauge("panda_kafka_connections", "Open Kafka client connections",
                      lambda: self.connections)
        metrics.counter("panda_kafka_requests_rejected_total",
                        "Connections closed for a malformed or oversize request",
                        lambda: self.rejected)
        metrics.counter("panda_kafka_trailing_bytes_total",
                        "Bytes clients sent after a request's last field (tolerated)",
                        lambda: self.trailing)

    def connection_opened(self) -> None:
        self.connections += 1

    def connection_closed(self) -> None:
        self.connections -= 1

    def request_rejected(self) -> None:
        self.rejected += 1

    def trailing_bytes(self, count: int) -> None:
        self.trailing += count

    def request_done(self, api_key: int, elapsed_us: int) -> None:
        histogram = self._latency.get(api_key)
        if histogram is None:
            histogram = self._latency[api_key] = self._metrics.histogram(
                "panda_kafka_request_latency_seconds", "Kafka request handling latency",
                labels={"api": str(api_key)})
        histogram.observe(elapsed_us)


class PartitionProbe:
    """Bytes and records in and out per topic, and each partition's high watermark and log
    start offset (read from `partitions`, the PartitionManager's live table, at scrape)."""

    def __init__(self, metrics: MetricsRegistry, partitions: Mapping[tuple[str, int], Any]):
        self._traffic: dict[str, list[int]] = {}    # topic -> bytes/records in, bytes/records out
        for index, (name, what) in enumerate((
                ("panda_kafka_topic_bytes_in_total", "Record batch bytes appended"),
                ("panda_kafka_topic_records_in_total", "Records appended"),
                ("panda_kafka_topic_bytes_out_total", "Record batch bytes served to fetches"),
                ("panda_kafka_topic_records_out_total", "Records served to fetches"))):
            metrics.dynamic(name, "counter", what + ", per topic, on the owning shard",
                            functools.partial(self._per_topic, index))
        metrics.dynamic("panda_kafka_partition_high_watermark", "gauge",
                        "High watermark (next offset a consumer can read) per partition",
                        lambda: [({"topic": t, "partition": str(p)}, part.high_watermark)
                                 for (t, p), part in partitions.items()])
        metrics.dynamic("panda_kafka_partition_log_start_offset", "gauge",
                        "First offset still in the log per partition",
                        lambda: [({"topic": t, "partition": str(p)}, part.log.start_offset)
                                 for (t, p), part in partitions.items()])

    def _per_topic(self, slot: int) -> list[tuple[dict[str, str], float]]:
        return [({"topic": t}, v[slot]) for t, v in self._traffic.items()]

    def appended(self, topic: str, nbytes: int, records: int) -> None:
        traffic = self._traffic.get(topic)
        if traffic is None:
            traffic = self._traffic[topic] = [0, 0, 0, 0]
        traffic[0] += nbytes
        traffic[1] += records

    def served(self, topic: str, nbytes: int, records: int) -> None:
        traffic = self._traffic.get(topic)
        if traffic is None:
            traffic = self._traffic[topic] = [0, 0, 0, 0]
        traffic[2] += nbytes
        traffic[3] += records

    def topic_removed(self, topic: str) -> None:
        self._traffic.pop(topic, None)
