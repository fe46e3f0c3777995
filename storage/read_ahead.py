"""Read-ahead for cold log reads: bring a file range into the page cache on a reader thread,
so the reactor's read that follows copies from memory instead of waiting on the disk.

Owns the shard's reader threads and their scratch buffers. Invariant: it only reads, through
its own duplicate of the descriptor (a segment closed meanwhile cannot hand it another file),
into a buffer nobody else sees; the reactor's read after it stays the one that is checked and
served. Never runs on, or blocks, the reactor thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading

READ_AHEAD_THREADS = 2       # cold reads of different partitions proceed side by side
CHUNK_BYTES = 1 << 20        # one pread into the thread's scratch buffer

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_scratch = threading.local()


def _reader_pool() -> concurrent.futures.ThreadPoolExecutor:
    """Threads made in the shard process on first use (never before a fork)."""
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(READ_AHEAD_THREADS, "storage-read")
    return _pool


async def warm(fd: int, start: int, length: int) -> None:
    """Read bytes [start, start + length) of fd's file on a reader thread; errors are left
    for the reactor's own read to meet and report."""
    if length <= 0:
        return
    copy = os.dup(fd)                   # the reader thread owns it and closes it
    try:
        done = asyncio.get_running_loop().run_in_executor(
            _reader_pool(), _read_through, copy, start, length)
    except BaseException:
        os.close(copy)
        raise
    await done


def _read_through(fd: int, start: int, length: int) -> None:
    try:
        _read_into_scratch(fd, start, length)
    finally:
        os.close(fd)


def _read_into_scratch(fd: int, start: int, length: int) -> None:
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None:
        buffer = _scratch.buffer = bytearray(CHUNK_BYTES)
    end = start + length
    for _ in range(length // CHUNK_BYTES + 1):        # bounded: one chunk per iteration
        if start >= end:
            return
        try:
            got = os.preadv(fd, [memoryview(buffer)[: min(CHUNK_BYTES, end - start)]], start)
        except OSError:
            return
        if got <= 0:
            return
        start += got
