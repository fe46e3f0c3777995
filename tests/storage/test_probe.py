"""Storage metrics: the probe registers every `panda_storage_*` series itself, read at scrape
time, and its histograms are the runtime's one Log2Histogram (statistics and export agree)."""

from __future__ import annotations

from panda.runtime.metrics import Log2Histogram, MetricsRegistry
from panda.storage.probe import StorageProbe

from .conftest import config, make_batch, run, started


def test_histogram_statistics_are_bucket_upper_bounds():
    histogram = Log2Histogram()
    for value in (3, 5, 900, 1000):
        histogram.observe(value)
    assert histogram.statistics() == {
        "count": 4, "sum": 1908, "p50": 8, "p99": 1024, "p999": 1024,
    }
    assert isinstance(histogram.total, int)  # int observations keep an exact int sum
    assert Log2Histogram().statistics()["p50"] == 0


def test_probe_registers_every_storage_series_with_the_panda_prefix():
    probe, metrics = StorageProbe(), MetricsRegistry()
    cache = {"size_bytes": 7, "spare_bytes": 0, "reuses": 2}
    probe.register(metrics, lambda: cache)
    probe.appended(100)
    probe.flushed(latency_us=300, size_bytes=100, syncs=1)
    families = {f.name: f for f in metrics.snapshot(shard=0)}
    assert all(name.startswith("panda_storage_") for name in families)
    assert families["panda_storage_appended_bytes_total"].samples[0].value == 100
    assert families["panda_storage_batch_cache_reuses_total"].samples[0].value == 2
    latency = families["panda_storage_flush_latency_seconds"]
    assert [s.value for s in latency.samples if s.suffix == "_count"] == [1]
    assert len(families) == 15 + 3 + 2  # counters, cache, the histogram and its quantiles


def test_log_manager_exports_its_cache_while_started(tmp_path):
    async def main():
        manager = await started(config(tmp_path))
        metrics = MetricsRegistry()
        manager.register_metrics(metrics)
        log = await manager.open_log("p-0")
        batch = make_batch(1)
        await log.append(batch, durable=True)

        def value(name: str) -> float:
            family = next(f for f in metrics.snapshot(shard=0) if f.name == name)
            return family.samples[0].value

        assert value("panda_storage_batch_cache_size_bytes") == len(batch)
        await manager.stop()
        assert value("panda_storage_batch_cache_size_bytes") == 0.0

    run(main)
