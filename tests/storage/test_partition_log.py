"""Append, read, roll, reopen, truncate and prefix-truncate of one partition log."""

from __future__ import annotations

import os

import pytest

from panda.storage import record_batch as rb
from panda.storage.config import TopicConfig
from panda.storage.errors import CrcMismatchError, OffsetOutOfRangeError

from .conftest import config, make_batch, run, started


def test_append_assigns_offsets_and_reads_back(cfg):
    async def main():
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        bases = [await log.append(make_batch(3, seed=i), durable=(i % 2 == 0)) for i in range(10)]
        assert bases == list(range(0, 30, 3))
        result = log.read(0, 1 << 20)
        headers = [rb.read_header(b) for b in result.batches]
        assert [h.base_offset for h in headers] == bases
        assert result.next_offset == 30
        mid = log.read(4, 1)  # inside the second batch: that whole batch
        assert rb.read_header(mid.batches[0]).base_offset == 3 and len(mid.batches) == 1
        await manager.stop()
        return bases

    run(main)


def test_durable_survives_reopen_and_reads_from_disk(cfg):
    async def main():
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        payloads = [make_batch(2, value_bytes=100 + i, seed=i) for i in range(50)]
        for p in payloads:
            await log.append(p, term=3, durable=True)
        await manager.stop()
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        assert log.next_offset == 100 and log.term == 3
        result = log.read(0, 1 << 30)
        assert len(result.batches) == 50
        for i, (stored, sent) in enumerate(zip(result.batches, payloads)):
            expect = bytearray(sent)
            rb.set_base_offset(expect, 0, 2 * i)
            rb.set_partition_leader_epoch(expect, 0, 3)
            assert bytes(stored) == bytes(expect)
        assert manager.probe.cache_misses >= 1
        await manager.stop()

    run(main)


def test_rolls_segments_by_size_and_term(tmp_path):
    cfg = config(tmp_path, topic=TopicConfig(segment_bytes=4096))

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        for i in range(40):
            await log.append(make_batch(1, value_bytes=500, seed=i), term=1 if i < 30 else 2)
        await log.flush()
        assert len(log.segments) > 3
        assert log.segments[-1].term == 2
        names = sorted(os.listdir(os.path.join(cfg.data_dir, "t-0")))
        assert any(n.endswith("-2.log") for n in names)
        await manager.stop()
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        assert log.next_offset == 40
        assert len(log.read(0, 1 << 30).batches) == 40
        assert manager.probe.torn_tails_truncated == 0
        await manager.stop()

    run(main)


def test_truncate_and_prefix_truncate(tmp_path):
    cfg = config(tmp_path, topic=TopicConfig(segment_bytes=4096))

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        for i in range(40):
            await log.append(make_batch(2, value_bytes=300, seed=i))
        await log.truncate(51)  # inside batch 25 (offsets 50-51): it goes whole
        assert log.next_offset == 50
        assert log.read(0, 1 << 30).next_offset == 50
        assert await log.append(make_batch(1)) == 50
        await log.prefix_truncate(20)
        assert log.start_offset == 20
        with pytest.raises(OffsetOutOfRangeError):
            log.read(19, 100)
        assert rb.read_header(log.read(20, 1).batches[0]).base_offset == 20
        await manager.stop()
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        assert (log.start_offset, log.next_offset) == (20, 51)
        await manager.stop()

    run(main)


def test_rejects_bad_crc(cfg):
    async def main():
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        bad = bytearray(make_batch(2))
        bad[-1] ^= 0xFF
        with pytest.raises(CrcMismatchError):
            await log.append(bytes(bad))
        assert log.next_offset == 0
        await manager.stop()

    run(main)


def test_timestamp_lookup(cfg):
    async def main():
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        for i in range(100):
            await log.append(make_batch(1, timestamp=10_000 + 10 * i, value_bytes=200))
        assert log.offset_for_timestamp(0) == 0
        assert log.offset_for_timestamp(10_500) == 50
        assert log.offset_for_timestamp(10_505) == 51
        assert log.offset_for_timestamp(99_999) is None
        await manager.stop()

    run(main)
