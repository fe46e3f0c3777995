"""Disk full and I/O errors: a clear storage error, nothing acknowledged lost, writes resume."""

from __future__ import annotations

import errno

import pytest

from panda.storage import record_batch as rb
from panda.storage.errors import DiskFullError, StorageIOError
from panda.storage.file_io import FileIO
from panda.storage.log_manager import LogManager

from .conftest import config, make_batch, run, started


class FaultyIO(FileIO):
    """FileIO whose writes fail with a chosen errno while `fail` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: int | None = None

    def _maybe_fail(self) -> None:
        if self.fail is not None:
            raise OSError(self.fail, "injected")

    def fallocate(self, fd, position, size):
        self._maybe_fail()
        super().fallocate(fd, position, size)

    def pwrite(self, fd, data, position, dsync=False):
        self._maybe_fail()
        super().pwrite(fd, data, position, dsync)

    def fdatasync(self, fd):
        self._maybe_fail()
        super().fdatasync(fd)


def stored_offsets(log) -> list[int]:
    return [rb.read_header(b).base_offset for b in log.read(log.start_offset, 1 << 30).batches]


def test_disk_full_fails_appends_keeps_acked_and_recovers(tmp_path):
    cfg = config(tmp_path, fallocate_bytes=64 * 1024)

    async def main():
        io = FaultyIO()
        manager = await LogManager(cfg, io=io).start(housekeeping=False)
        log = await manager.open_log("d-0")
        for i in range(10):
            await log.append(make_batch(1, value_bytes=1000, seed=i), durable=True)
        io.fail = errno.ENOSPC
        with pytest.raises(DiskFullError) as caught:
            for i in range(200):  # fills the preallocated chunk, then needs more
                await log.append(make_batch(1, value_bytes=1000, seed=i), durable=True)
        assert caught.value.retriable
        assert log.next_offset == log.durable_offset
        acked = log.next_offset
        assert stored_offsets(log) == list(range(acked))
        assert manager.probe.disk_full_errors >= 1
        io.fail = None  # space returns
        assert await log.append(make_batch(1), durable=True) == acked
        await manager.stop()
        manager = await started(cfg)
        log = await manager.open_log("d-0")
        assert stored_offsets(log) == list(range(acked + 1))
        await manager.stop()

    run(main)


def test_io_error_fails_closed(tmp_path):
    cfg = config(tmp_path)

    async def main():
        io = FaultyIO()
        manager = await LogManager(cfg, io=io).start(housekeeping=False)
        log = await manager.open_log("e-0")
        await log.append(make_batch(1), durable=True)
        io.fail = errno.EIO
        with pytest.raises(StorageIOError) as caught:
            await log.append(make_batch(1), durable=True)
        assert not caught.value.retriable
        with pytest.raises(StorageIOError):
            await log.append(make_batch(1))
        io.fail = None
        assert stored_offsets(log)[0] == 0
        await manager.stop()
        manager = await started(cfg)
        log = await manager.open_log("e-0")
        assert log.next_offset >= 1
        await manager.stop()

    run(main)
