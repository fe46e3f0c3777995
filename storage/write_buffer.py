"""Page-aligned, reusable memory for a segment's appended-but-unwritten bytes.

Owns one anonymous mmap laid out from the aligned file position below its start, so an O_DIRECT
write goes straight from it (no staging copy) and a buffered write takes the data slice. The
reactor appends; once handed to the I/O thread the buffer is only read by readers until the
write completes. Never shrinks in place and never frees memory that a view still exports.

Large buffers ask for transparent huge pages. The kernel splits an O_DIRECT write into device
requests wherever physical memory breaks, and 4 KiB pages scattered by the allocator cut a
12 MiB write into ~0.5 MiB requests. Measured on this virtio disk: 1.8 GB/s from 4 KiB pages,
2.6 GB/s from 2 MiB pages (~2.4 MiB requests).
"""

from __future__ import annotations

import mmap

from panda.storage.file_io import ALIGN_BYTES, align_down, align_up
from panda.storage.gil_free import copy_into

HUGE_PAGE_BYTES = 2 * 1024 * 1024
THP_MODE_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"


def map_buffer(capacity: int) -> mmap.mmap:
    """Private anonymous memory of capacity bytes; from HUGE_PAGE_BYTES up it is backed by
    huge pages where the kernel allows (THP "always" or "madvise"; otherwise plain pages)."""
    mem = mmap.mmap(-1, capacity, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if capacity >= HUGE_PAGE_BYTES and hasattr(mmap, "MADV_HUGEPAGE"):
        mem.madvise(mmap.MADV_HUGEPAGE)
    return mem


def huge_pages_off(mode_path: str = THP_MODE_PATH) -> bool:
    """True when the kernel gives no transparent huge pages to map_buffer (mode "[never]").
    An unreadable mode (no sysfs, another OS) is not reported as off."""
    try:
        with open(mode_path) as mode:
            return "[never]" in mode.read()
    except OSError:
        return False


class WriteBuffer:
    """Bytes [start, end) of a segment, at mem[head:used]; mem[:head] is filled by the writer.

    Starts at capacity_bytes; the first growth goes straight to hot_capacity_bytes (a busy
    log's whole pending tail), so a hot segment copies its buffer at most once instead of at
    every doubling. Untouched pages of a mapping cost no memory."""

    def __init__(self, capacity_bytes: int, hot_capacity_bytes: int = 0) -> None:
        self._capacity_min = align_up(max(capacity_bytes, ALIGN_BYTES))
        self._capacity_hot = align_up(hot_capacity_bytes)
        self.mem: mmap.mmap | None = None  # allocated on first append
        self.start = 0
        self.head = 0
        self.used = 0

    def reset(self, start: int) -> None:
        """Empty the buffer; the next byte appended lands at file position start."""
        self.start = start
        self.head = start - align_down(start)
        self.used = self.head

    @property
    def file_position(self) -> int:
        return self.start - self.head

    @property
    def size_bytes(self) -> int:
        return self.used - self.head

    @property
    def end(self) -> int:
        return self.start + self.used - self.head

    @property
    def capacity_bytes(self) -> int:
        return len(self.mem) if self.mem is not None else 0

    def append(self, data: bytes | bytearray | memoryview) -> None:
        need = self.used + len(data) + ALIGN_BYTES  # room for the zero padding of the write
        if need > self.capacity_bytes:
            self._grow(need)
        assert self.mem is not None
        copy_into(self.mem, self.used, data)
        self.used += len(data)

    def _grow(self, need: int) -> None:
        hot = self._capacity_hot if self.mem is not None else 0
        capacity = max(self._capacity_min, hot, 2 * self.capacity_bytes, align_up(need))
        mem = map_buffer(capacity)
        if self.mem is not None:
            mem[: self.used] = self.mem[: self.used]
        self.mem = mem

    def cut(self, end: int) -> None:
        """Forget the bytes at or past end (a truncation inside the buffer)."""
        assert self.start <= end <= self.end
        self.used = self.head + end - self.start

    def view(self, start: int, end: int) -> memoryview:
        """Segment bytes [start, end) (within [self.start, self.end))."""
        assert self.mem is not None
        return memoryview(self.mem)[self.head + start - self.start : self.head + end - self.start]


class WriteBufferPool:
    """Buffers of closed segments kept for new ones, so their pages stay faulted in."""

    def __init__(
        self, buffers_max: int, capacity_bytes_min: int, hot_capacity_bytes: int = 0
    ) -> None:
        self.buffers_max = buffers_max
        self.capacity_bytes_min = capacity_bytes_min
        self.hot_capacity_bytes = hot_capacity_bytes
        self._free: list[WriteBuffer] = []

    def take(self) -> WriteBuffer:
        if self._free:
            return self._free.pop()
        return WriteBuffer(self.capacity_bytes_min, self.hot_capacity_bytes)

    def give(self, buffer: WriteBuffer | None) -> None:
        if buffer is not None and buffer.mem is not None and len(self._free) < self.buffers_max:
            self._free.append(buffer)
            self._free.sort(key=lambda b: b.capacity_bytes)  # take() hands out the largest
