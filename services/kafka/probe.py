"""Kafka API metrics of one shard: requests and latency per API, connections, rejects."""

from __future__ import annotations

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
