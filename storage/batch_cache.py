"""Recently appended batches of every partition of a shard, in memory, within a byte budget.

Owns which batches stay resident: least recently used go first once bytes_max is passed, and
the memory of evicted large batches, reused for the next ones. Invariant: an entry is
byte-identical to what the log holds at that offset; the log invalidates entries before it
truncates; memory is reused only once nothing refers to it any more. Never reads or writes
files.

Why reuse: a fresh 1 MiB copy faults its pages in (glibc hands large blocks back to the kernel)
and held the GIL for as long as the copy into the log's write buffer did. Copied into memory
that is already mapped, with the GIL released, it stops delaying the storage I/O thread.
"""

from __future__ import annotations

import sys
from collections import OrderedDict

from panda.storage.gil_free import copy_into

RECYCLE_BYTES_MIN = 256 * 1024  # batches this large get reused memory
RECYCLE_SLACK = 4  # ... from a spare at most 1/RECYCLE_SLACK larger than the batch


class _Held:
    """A large batch: the first size bytes of reusable memory."""

    __slots__ = ("memory", "size")

    def __init__(self, memory: bytearray, size: int) -> None:
        self.memory = memory
        self.size = size


_Entry = bytes | _Held


class BatchCache:
    """LRU of (log id, base offset) -> batch bytes, bounded by bytes_max (the memory held
    counts: a reused spare's slack, and the spare memory kept for reuse)."""

    def __init__(self, bytes_max: int) -> None:
        self.bytes_max = bytes_max
        self.size_bytes = 0
        self.spare_bytes = 0
        self.spare_bytes_max = bytes_max // 16
        self.reuses = 0  # large batches copied into reused memory
        self._lru: OrderedDict[tuple[int, int], _Entry] = OrderedDict()
        self._by_log: dict[int, dict[int, _Entry]] = {}
        self._spare: list[bytearray] = []  # unreferenced memory, oldest first

    def put_copy(
        self, log_id: int, base_offset: int, batch: bytes | bytearray | memoryview
    ) -> None:
        """Keep a copy of batch (the caller's bytes may change or go). A large batch goes into
        the memory of an evicted one when one fits, copied with the GIL released."""
        size = len(batch)
        if size > self.bytes_max:
            return
        if size < RECYCLE_BYTES_MIN:
            self._insert(log_id, base_offset, bytes(batch))
            return
        self._make_room(size)
        memory = self._take_spare(size)
        if memory is None:
            memory = bytearray(batch)
        else:
            copy_into(memory, 0, batch)
        self._insert(log_id, base_offset, _Held(memory, size))

    def get(self, log_id: int, base_offset: int) -> bytes | memoryview | None:
        entry = self._by_log.get(log_id, {}).get(base_offset)
        if entry is None:
            return None
        self._lru.move_to_end((log_id, base_offset))
        if isinstance(entry, _Held):
            return memoryview(entry.memory)[: entry.size]
        return entry

    def contains(self, log_id: int, base_offset: int) -> bool:
        return base_offset in self._by_log.get(log_id, {})

    def invalidate_from(self, log_id: int, offset: int) -> None:
        """Forget the log's batches whose base offset is >= offset (before a truncate)."""
        for base in [b for b in self._by_log.get(log_id, ()) if b >= offset]:
            self._remove((log_id, base))

    def invalidate_range(self, log_id: int, start: int, end: int) -> None:
        """Forget the log's batches whose base offset is in [start, end)."""
        for base in [b for b in self._by_log.get(log_id, ()) if start <= b < end]:
            self._remove((log_id, base))

    def invalidate_below(self, log_id: int, offset: int) -> None:
        """Forget the log's batches whose base offset is < offset (prefix truncate)."""
        for base in [b for b in self._by_log.get(log_id, ()) if b < offset]:
            self._remove((log_id, base))

    def drop_log(self, log_id: int) -> None:
        for base in list(self._by_log.get(log_id, ())):
            self._remove((log_id, base))
        self._by_log.pop(log_id, None)

    def _insert(self, log_id: int, base_offset: int, entry: _Entry) -> None:
        size = _held_bytes(entry)
        if size > self.bytes_max:
            return
        key = (log_id, base_offset)
        if key in self._lru:
            self._remove(key)
        self._lru[key] = entry
        self._by_log.setdefault(log_id, {})[base_offset] = entry
        self.size_bytes += size
        while self.size_bytes + self.spare_bytes > self.bytes_max and self._spare:
            self._drop_spare(0)  # idle memory goes before any cached batch
        while self.size_bytes > self.bytes_max:
            self._remove(next(iter(self._lru)))

    def _make_room(self, size: int) -> None:
        """Evict least recently used batches until a spare fits size or size fits as new."""
        while self._lru and self._fitting_spare(size) < 0:
            if self.size_bytes + self.spare_bytes + size <= self.bytes_max:
                return
            self._remove(next(iter(self._lru)))
        while self._spare and self._fitting_spare(size) < 0:
            if self.size_bytes + self.spare_bytes + size <= self.bytes_max:
                return
            self._drop_spare(0)

    def _remove(self, key: tuple[int, int]) -> None:
        entry = self._lru.pop(key)
        del self._by_log[key[0]][key[1]]
        self.size_bytes -= _held_bytes(entry)
        if isinstance(entry, _Held):
            memory = entry.memory
            del entry
            self._keep_spare(memory)

    def _keep_spare(self, memory: bytearray) -> None:
        """Keep memory for reuse if nothing else refers to it: no reader holds a view of it
        (each view's buffer holds a reference to it). Within spare_bytes_max the oldest spares
        go first: batch sizes follow the traffic, and an old size may never fit again."""
        # References: the caller's local, this parameter, getrefcount's argument.
        if sys.getrefcount(memory) > 3 or len(memory) > self.spare_bytes_max:
            return
        while self._spare and self.spare_bytes + len(memory) > self.spare_bytes_max:
            self._drop_spare(0)
        if self.size_bytes + self.spare_bytes + len(memory) <= self.bytes_max:
            self._spare.append(memory)
            self.spare_bytes += len(memory)

    def _fitting_spare(self, size: int) -> int:
        """Index of the smallest spare of size..size + size / RECYCLE_SLACK bytes, else -1."""
        best, best_bytes = -1, size + size // RECYCLE_SLACK + 1
        for at, memory in enumerate(self._spare):
            if size <= len(memory) < best_bytes:
                best, best_bytes = at, len(memory)
        return best

    def _take_spare(self, size: int) -> bytearray | None:
        at = self._fitting_spare(size)
        if at < 0:
            return None
        self.reuses += 1
        return self._drop_spare(at)

    def _drop_spare(self, at: int) -> bytearray:
        memory = self._spare.pop(at)
        self.spare_bytes -= len(memory)
        return memory

    def statistics(self) -> dict[str, int]:
        return {
            "size_bytes": self.size_bytes,
            "spare_bytes": self.spare_bytes,
            "bytes_max": self.bytes_max,
            "batches": len(self._lru),
            "reuses": self.reuses,
        }


def _held_bytes(entry: _Entry) -> int:
    return len(entry.memory) if isinstance(entry, _Held) else len(entry)
