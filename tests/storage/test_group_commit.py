"""Group commit: one flush cycle covers every append that arrived before it, across partitions."""

from __future__ import annotations

import asyncio

from .conftest import config, make_batch, run, started


def test_concurrent_durable_appends_share_flushes(tmp_path):
    cfg = config(tmp_path, flush_debounce_us=2000)

    async def main():
        manager = await started(cfg)
        logs = [await manager.open_log(f"g-{p}") for p in range(4)]
        appends = [
            log.append(make_batch(1, seed=i), durable=True) for i in range(50) for log in logs
        ]
        await asyncio.gather(*appends)
        stats = manager.statistics()
        assert stats["appended_batches"] == 200
        assert 1 <= stats["flushes"] <= 10, stats["flushes"]
        assert all(log.durable_offset == log.next_offset == 50 for log in logs)
        assert stats["flush_latency_us"]["count"] == stats["flushes"]
        assert stats["durable_append_latency_us"]["count"] == 200
        assert stats["syncs_per_s"] > 0
        await manager.stop()

    run(main)


def test_non_durable_appends_reach_disk_within_flush_interval(tmp_path):
    cfg = config(tmp_path, flush_interval_ms=20)

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("g-0")
        await log.append(make_batch(1))
        assert log.durable_offset == 0
        for _ in range(100):
            await asyncio.sleep(0.01)
            if log.durable_offset == 1:
                break
        assert log.durable_offset == 1 and log.high_watermark == 1
        await manager.stop()

    run(main)


def test_tailing_reads_come_from_the_cache(tmp_path):
    cfg = config(tmp_path)

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("g-0")
        offset = 0
        for i in range(20):
            await log.append(make_batch(2, seed=i), durable=True)
            result = log.read(offset, 1 << 20)
            offset = result.next_offset
        assert offset == 40
        assert manager.probe.cache_hits == 20 and manager.probe.disk_reads == 0
        await manager.stop()

    run(main)
