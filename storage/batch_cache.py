"""Recently appended batches of every partition of a shard, in memory, within a byte budget.

Owns which batches stay resident: least recently used go first once bytes_max is passed.
Invariant: an entry is byte-identical to what the log holds at that offset; the log
invalidates entries before it truncates. Never reads or writes files.
"""

from __future__ import annotations

from collections import OrderedDict


class BatchCache:
    """LRU of (log id, base offset) -> batch bytes, bounded by bytes_max."""

    def __init__(self, bytes_max: int) -> None:
        self.bytes_max = bytes_max
        self.size_bytes = 0
        self._lru: OrderedDict[tuple[int, int], bytearray | bytes] = OrderedDict()
        self._by_log: dict[int, dict[int, bytearray | bytes]] = {}

    def put(self, log_id: int, base_offset: int, batch: bytearray | bytes) -> None:
        if len(batch) > self.bytes_max:
            return
        key = (log_id, base_offset)
        if key in self._lru:
            self._remove(key)
        self._lru[key] = batch
        self._by_log.setdefault(log_id, {})[base_offset] = batch
        self.size_bytes += len(batch)
        while self.size_bytes > self.bytes_max:
            self._remove(next(iter(self._lru)))

    def get(self, log_id: int, base_offset: int) -> bytearray | bytes | None:
        batch = self._by_log.get(log_id, {}).get(base_offset)
        if batch is not None:
            self._lru.move_to_end((log_id, base_offset))
        return batch

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

    def _remove(self, key: tuple[int, int]) -> None:
        batch = self._lru.pop(key)
        del self._by_log[key[0]][key[1]]
        self.size_bytes -= len(batch)

    def statistics(self) -> dict[str, int]:
        return {
            "size_bytes": self.size_bytes,
            "bytes_max": self.bytes_max,
            "batches": len(self._lru),
        }
