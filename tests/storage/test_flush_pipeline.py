"""Pipelined flushes: a write queued behind the running one, in order, and what happens to it
when the one before fails or the log is truncated while both are in flight."""

from __future__ import annotations

import asyncio
import errno
import threading

from panda.storage import record_batch as rb
from panda.storage.config import TopicConfig
from panda.storage.errors import DiskFullError, LogTruncatedError, StorageIOError
from panda.storage.file_io import FileIO
from panda.storage.log_manager import LogManager
from panda.storage.write_buffer import WriteBuffer

from .conftest import config, make_batch, run, started

BATCH_VALUE_BYTES = 16 * 1024
TRIGGER_BYTES = 64 * 1024


class GatedIO(FileIO):
    """FileIO whose first segment write waits for `gate` and may then fail with `fail_errno`;
    counts the segment writes that reached the disk."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.held = threading.Event()  # the I/O thread waits at the gate
        self.fail_errno: int | None = None
        self.writes = 0
        self._first = True

    def pwrite(self, fd, data, position, dsync=False):
        if self._first:
            self._first = False
            self.held.set()
            assert self.gate.wait(10)
            if self.fail_errno is not None:
                raise OSError(self.fail_errno, "injected")
        super().pwrite(fd, data, position, dsync)
        self.writes += 1


def pipeline_config(tmp_path):
    return config(tmp_path, flush_trigger_bytes=TRIGGER_BYTES, fallocate_bytes=0)


async def hold_first_write(io: GatedIO) -> None:
    for _ in range(1000):
        if io.held.is_set():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the first write never started")


def big_batch(seed: int) -> bytes:
    return make_batch(1, value_bytes=BATCH_VALUE_BYTES, seed=seed)


async def fill_two_writes(log, io: GatedIO) -> list[asyncio.Task[int]]:
    """Durable appends until one write runs (held at the gate) and a second is queued."""
    appends = []
    for i in range(4 * TRIGGER_BYTES // BATCH_VALUE_BYTES):
        appends.append(asyncio.ensure_future(log.append(big_batch(i), durable=True)))
        await asyncio.sleep(0)
    await hold_first_write(io)
    active = log.segments[-1]
    assert len(active.inflight) == 2, "a second write queued behind the held one"
    return appends


def watch_durable_against_synced(log) -> list[tuple[int, int]]:
    """After every flush the log completes, durable_offset must not pass what the single
    segment has written: returns the (durable, synced) pairs that broke it."""
    broken: list[tuple[int, int]] = []
    end_flush = log.end_flush

    def checked(job, error):
        end_flush(job, error)
        synced = log.segments[-1].synced_offset
        if log.durable_offset > synced:
            broken.append((log.durable_offset, synced))

    log.end_flush = checked
    return broken


def bases(log) -> list[int]:
    return [rb.read_header(b).base_offset for b in log.read(log.start_offset, 1 << 30).batches]


def test_trigger_bytes_queue_a_write_behind_the_running_one(tmp_path):
    cfg = pipeline_config(tmp_path)

    async def main():
        io = GatedIO()
        manager = await LogManager(cfg, io=io).start(housekeeping=False)
        log = await manager.open_log("p-0")
        appends = await fill_two_writes(log, io)
        assert log.durable_offset == 0
        assert bases(log) == list(range(log.next_offset))  # in flight bytes are readable
        io.gate.set()
        await asyncio.gather(*appends)
        assert log.durable_offset == log.next_offset == len(appends)
        assert io.writes >= 2
        await manager.stop()
        manager = await started(cfg)
        log = await manager.open_log("p-0")
        assert bases(log) == list(range(len(appends)))
        await manager.stop()

    run(main)


def test_io_error_skips_the_write_queued_behind(tmp_path):
    cfg = pipeline_config(tmp_path)

    async def main():
        io = GatedIO()
        io.fail_errno = errno.EIO
        manager = await LogManager(cfg, io=io).start(housekeeping=False)
        log = await manager.open_log("p-0")
        appends = await fill_two_writes(log, io)
        io.gate.set()
        outcomes = await asyncio.gather(*appends, return_exceptions=True)
        assert all(isinstance(o, StorageIOError) for o in outcomes), outcomes
        assert io.writes == 0, "nothing queued behind the failed write reached the file"
        assert log.durable_offset == 0
        await manager.stop()

    run(main)


def test_disk_full_skips_the_queued_write_then_writes_again(tmp_path):
    cfg = pipeline_config(tmp_path)

    async def main():
        io = GatedIO()
        io.fail_errno = errno.ENOSPC
        manager = await LogManager(cfg, io=io).start(housekeeping=False)
        log = await manager.open_log("p-0")
        appends = await fill_two_writes(log, io)
        io.gate.set()
        outcomes = await asyncio.gather(*appends, return_exceptions=True)
        assert all(isinstance(o, DiskFullError) for o in outcomes), outcomes
        assert log.next_offset == log.durable_offset == 0 and io.writes == 0
        assert await log.append(big_batch(99), durable=True) == 0  # space is back
        assert bases(log) == [0]
        await manager.stop()
        manager = await started(cfg)
        log = await manager.open_log("p-0")
        assert bases(log) == [0]
        await manager.stop()

    run(main)


def test_truncate_inside_queued_writes_keeps_only_the_prefix(tmp_path):
    cfg = pipeline_config(tmp_path)

    async def main():
        io = GatedIO()
        manager = await LogManager(cfg, io=io).start(housekeeping=False)
        log = await manager.open_log("p-0")
        appends = await fill_two_writes(log, io)
        first, second = log.segments[-1].inflight
        assert second.end_offset - first.end_offset >= 2
        cut = first.end_offset + 1  # inside the write queued behind the held one
        truncating = asyncio.ensure_future(log.truncate(cut))
        await asyncio.sleep(0)
        assert bases(log) == list(range(cut))  # reads see the cut at once
        log.append_nowait(big_batch(7))  # after the cut, not in any write in flight
        overclaims = watch_durable_against_synced(log)
        io.gate.set()
        await truncating
        outcomes = await asyncio.gather(*appends, return_exceptions=True)
        kept = [o for o in outcomes if not isinstance(o, BaseException)]
        assert kept == list(range(cut))
        assert all(isinstance(o, LogTruncatedError) for o in outcomes[cut:])
        await log.flush()
        assert not overclaims, overclaims
        assert log.durable_offset == log.next_offset == cut + 1
        assert bases(log) == list(range(cut + 1))
        await manager.stop()
        manager = await started(cfg)
        log = await manager.open_log("p-0")
        assert bases(log) == list(range(cut + 1))
        await manager.stop()

    run(main)


def test_write_buffer_grows_once_to_its_hot_capacity():
    buffer = WriteBuffer(64 * 1024, hot_capacity_bytes=1 << 20)
    buffer.reset(0)
    buffer.append(b"x" * 100)
    assert buffer.capacity_bytes == 64 * 1024
    buffer.append(b"y" * 70_000)  # past the first capacity: straight to the hot one
    assert buffer.capacity_bytes == 1 << 20
    assert bytes(buffer.view(0, 70_100)) == b"x" * 100 + b"y" * 70_000


def test_rolled_segment_hands_its_empty_buffer_back(tmp_path):
    cfg = config(tmp_path, topic=TopicConfig(segment_bytes=64 * 1024))

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("p-0")
        for i in range(12):
            await log.append(big_batch(i), durable=True)
        closed = log.segments[:-1]
        assert closed and all(s.pending.mem is None for s in closed)
        await manager.stop()

    run(main)
