"""retention.bytes and retention.ms delete whole closed segments; the active one stays."""

from __future__ import annotations

from panda.storage.config import TopicConfig

from .conftest import config, make_batch, run, started


def test_retention_by_size(tmp_path):
    topic = TopicConfig(segment_bytes=8192, retention_bytes=20_000, retention_ms=-1)
    cfg = config(tmp_path, topic=topic)

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("r-0")
        for i in range(100):
            await log.append(make_batch(1, value_bytes=900, seed=i))
        await log.flush()
        await manager.housekeep_once()
        total = sum(s.size_bytes for s in log.segments)
        assert total <= 20_000 + 8192 and total > 20_000 - 8192
        assert log.start_offset == log.segments[0].base_offset > 0
        assert log.read(log.start_offset, 1 << 20).batches
        await manager.stop()

    run(main)


def test_retention_by_time(tmp_path):
    topic = TopicConfig(segment_bytes=8192, retention_ms=60_000)
    cfg = config(tmp_path, topic=topic)

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("r-0")
        for i in range(60):  # old records first, then recent ones
            ts = 1_000_000 if i < 40 else 2_000_000
            await log.append(make_batch(1, value_bytes=900, timestamp=ts))
        await log.flush()
        await manager.housekeep_once(now_ms=2_000_000 + 30_000)
        first = log.segments[0]
        assert first.index.max_timestamp >= 2_000_000 - 60_000 or len(log.segments) == 1
        assert log.start_offset <= 40
        assert log.start_offset > 0
        await manager.housekeep_once(now_ms=9_000_000)
        assert len(log.segments) == 1  # the active segment is never deleted
        await manager.stop()
        manager = await started(cfg)
        log = await manager.open_log("r-0")
        assert log.start_offset == log.segments[0].base_offset and log.next_offset == 60
        await manager.stop()

    run(main)
