"""Read-ahead: a cold read (the batch cache cannot serve it) is brought into the page cache on a
reader thread first; the read after it returns exactly what a plain read returns, and
read-ahead of an offset the log does not hold, or of a closed log, is a no-op."""

from __future__ import annotations

import os

from panda.storage import read_ahead

from .conftest import config, make_batch, run, started


def test_read_ahead_then_read_equals_a_plain_read_from_disk(tmp_path):
    cfg = config(tmp_path / "data", batch_cache_bytes_max=0)       # every read is cold

    async def main():
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        for i in range(30):
            await log.append(make_batch(3, value_bytes=700, seed=i), durable=True)
        for offset, max_bytes in ((0, 1), (30, 5000), (87, 1 << 20), (89, 10)):
            await log.read_ahead(offset, max_bytes)
            warmed = log.read(offset, max_bytes)
            assert warmed.to_bytes() == log.read(offset, max_bytes).to_bytes()
            assert warmed.batches and warmed.next_offset > offset
        assert manager.probe.cache_misses >= 4
        assert log.read_ahead_range(90, 1000) is None    # the log end: nothing to read
        assert log.read_ahead_range(-5, 1000) is None    # below the start: read() reports it
        fd, start, length = log.read_ahead_range(30, 5000)
        assert fd == log.segments[0].read_fd and 0 < start and 5000 < length
        await manager.stop()
        assert log.read_ahead_range(0, 1000) is None     # closed: nothing

    run(main)


def test_warm_reads_through_its_own_descriptor(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(os.urandom(3 * read_ahead.CHUNK_BYTES + 5))
    fd = os.open(path, os.O_RDONLY)

    async def main():
        await read_ahead.warm(fd, 10, 3 * read_ahead.CHUNK_BYTES)   # several chunks
        await read_ahead.warm(fd, 0, 0)
        await read_ahead.warm(fd, 10 * read_ahead.CHUNK_BYTES, 100)  # past the end: no error

    try:
        open_before = len(os.listdir("/proc/self/fd"))
        run(main)
        assert os.pread(fd, 4, 0) == path.read_bytes()[:4]            # still ours, still open
        assert len(os.listdir("/proc/self/fd")) <= open_before        # its copies are closed
    finally:
        os.close(fd)


def test_nothing_to_read_ahead_when_the_batch_cache_serves_the_offset(cfg):
    async def main():
        manager = await started(cfg)
        log = await manager.open_log("t-0")
        await log.append(make_batch(2), durable=True)
        assert log.read_ahead_range(0, 1 << 20) is None      # just appended: cached
        await manager.stop()

    run(main)
