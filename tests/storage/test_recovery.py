"""Recovery: torn tails cut and logged, missing or damaged indexes rebuilt, corruption reported."""

from __future__ import annotations

import glob
import logging
import os
import shutil

import pytest

from panda.storage import record_batch as rb
from panda.storage.config import TopicConfig
from panda.storage.errors import CorruptBatchError

from .conftest import config, make_batch, run, started


async def fill(cfg, batches: int, durable_close: bool = True) -> int:
    manager = await started(cfg)
    log = await manager.open_log("p-0")
    for i in range(batches):
        await log.append(make_batch(2, value_bytes=300, seed=i))
    await manager.stop()
    return log.next_offset


def files(cfg, pattern: str) -> list[str]:
    return sorted(glob.glob(os.path.join(cfg.data_dir, "p-0", pattern)))


def test_torn_tail_is_truncated_and_logged(tmp_path, caplog):
    cfg = config(tmp_path, topic=TopicConfig(segment_bytes=8192))
    end = run(fill, cfg, 40)
    last_log = files(cfg, "*.log")[-1]
    os.unlink(last_log[: -len(".log")] + ".index")  # as after a crash: the active has no index
    size = os.path.getsize(last_log)
    with open(last_log, "r+b") as file:  # tear the last batch and add garbage
        file.truncate(size - 100)
        file.seek(0, os.SEEK_END)
        file.write(b"\x07" * 50)

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("p-0")
        assert log.next_offset == end - 2
        assert log.recovery.truncated_bytes == size - 100 + 50 - log.segments[-1].size_bytes
        assert manager.probe.torn_tails_truncated == 1
        assert len(log.read(0, 1 << 30).batches) == 39
        assert await log.append(make_batch(1), durable=True) == end - 2
        await manager.stop()

    with caplog.at_level(logging.WARNING, logger="panda.storage"):
        run(main)
    assert any("torn tail" in r.message for r in caplog.records)


def test_missing_and_damaged_indexes_are_rebuilt(tmp_path):
    cfg = config(tmp_path, topic=TopicConfig(segment_bytes=8192))
    end = run(fill, cfg, 60)
    indexes = files(cfg, "*.index")
    assert len(indexes) >= 3
    os.unlink(indexes[0])
    with open(indexes[1], "r+b") as file:
        file.write(b"\xff\xff")

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("p-0")
        assert log.next_offset == end
        assert log.recovery.rebuilt_indexes >= 1 and manager.probe.indexes_rebuilt >= 2
        headers = [rb.read_header(b) for b in log.read(0, 1 << 30).batches]
        assert [h.base_offset for h in headers] == list(range(0, end, 2))
        assert rb.read_header(log.read(31, 1).batches[0]).base_offset == 30
        await manager.stop()

    run(main)
    assert len(files(cfg, "*.index")) == len(indexes)


def test_corrupt_batch_in_closed_segment_is_reported_not_served(tmp_path, caplog):
    cfg = config(tmp_path, topic=TopicConfig(segment_bytes=8192))
    run(fill, cfg, 60)
    first = files(cfg, "*.log")[0]
    with open(first, "r+b") as file:  # flip a byte inside the third batch's records
        file.seek(2 * 679 + 200)
        byte = file.read(1)
        file.seek(-1, os.SEEK_CUR)
        file.write(bytes([byte[0] ^ 0x55]))

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("p-0")
        assert len(log.read(0, 2 * 679).batches) == 2  # batches before it are fine
        with pytest.raises(CorruptBatchError):
            log.read(4, 1 << 20)
        with pytest.raises(CorruptBatchError):
            log.read(0, 1 << 20)
        assert log.read(40, 1 << 20).batches  # later segments still serve
        assert manager.probe.corrupt_batches == 2  # each refused read counted
        await manager.stop()

    with caplog.at_level(logging.ERROR, logger="panda.storage"):
        run(main)
    assert any("corrupt batch" in r.message for r in caplog.records)


def test_segments_after_a_lost_tail_of_an_unsealed_segment_are_removed(tmp_path):
    """A crash after a roll: the closed segment lost its last batch (never written), the next
    one exists. Nothing after the gap was ever synced, so it must go: offsets stay contiguous."""
    cfg = config(tmp_path, topic=TopicConfig(segment_bytes=8192))
    run(fill, cfg, 30)
    logs = files(cfg, "*.log")
    assert len(logs) >= 3
    closed, last = logs[-2], logs[-1]
    for path in (closed, last):
        os.unlink(path[: -len(".log")] + ".index")  # neither was sealed before the crash
    with open(closed, "r+b") as file:
        file.truncate(os.path.getsize(closed) - 679)  # its last batch never reached the disk

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("p-0")
        assert last in log.recovery.removed_segments
        offsets = [rb.read_header(b).base_offset for b in log.read(0, 1 << 30).batches]
        assert offsets == list(range(0, log.next_offset, 2))
        assert await log.append(make_batch(1), durable=True) == log.next_offset - 1
        await manager.stop()

    run(main)
    assert not os.path.exists(last)


def test_active_segment_checkpoint_bounds_the_tail_scan(tmp_path):
    """After a crash, recovery CRC-scans only what follows the last index checkpoint."""
    cfg = config(tmp_path, index_checkpoint_bytes=64 * 1024)
    crashed = str(tmp_path / "crashed")

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("p-0")
        for i in range(400):  # ~270 KiB: several checkpoints
            await log.append(make_batch(2, value_bytes=300, seed=i), durable=True)
        await manager.shared.io_thread.barrier()
        shutil.copytree(cfg.data_dir, crashed)  # the disk as a crash would leave it
        await manager.stop()

    run(main)
    assert glob.glob(os.path.join(crashed, "p-0", "*.checkpoint"))

    async def reopen():
        manager = await started(config(crashed))
        log = await manager.open_log("p-0")
        assert log.next_offset == 800
        assert log.segments[-1].size_bytes > 250 * 1024
        assert log.recovery.scanned_bytes < 64 * 1024 + 1024  # the tail after the checkpoint
        offsets = [rb.read_header(b).base_offset for b in log.read(0, 1 << 30).batches]
        assert offsets == list(range(0, 800, 2))
        await manager.stop()

    run(reopen)
