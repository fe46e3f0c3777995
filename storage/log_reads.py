"""The read side of a partition log: whole batches from the batch cache, then the segments.

Owns `ReadResult` and the `LogReads` role that `PartitionLog` inherits (read, read-ahead
ranges, ListOffsets by time). Invariant: only whole batches between the start offset and
`upto` are served, and a cold read's file range can be warmed off the reactor first. Never
changes the log: it reads the offsets and segments `PartitionLog` keeps.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from panda.storage import record_batch as rb
from panda.storage.errors import CorruptBatchError, LogClosedError, OffsetOutOfRangeError
from panda.storage.read_ahead import warm
from panda.storage.segment import Segment

if TYPE_CHECKING:
    from panda.storage.config import StorageConfig
    from panda.storage.partition_log import Shared


@dataclass
class ReadResult:
    """Whole batches (zero-copy views) and the offset after the last one."""

    batches: list[memoryview] = field(default_factory=list)
    next_offset: int = 0
    size_bytes: int = 0

    def to_bytes(self) -> bytes:
        return b"".join(self.batches)


class LogReads:
    """Reads of one partition log (a role of `PartitionLog`, which owns the state below).

    A base class rather than a helper object so that a fetch costs no extra call or attribute
    hop: `log.read()` runs here directly, on the log's own fields.
    """

    name: str
    log_id: int
    segments: list[Segment]
    start_offset: int
    next_offset: int
    _closed: bool
    _config: StorageConfig
    _shared: Shared

    def read(self, offset: int, max_bytes: int, upto: int | None = None) -> ReadResult:
        """Whole batches from offset, about max_bytes of them (at least one), below upto
        (default: the log end; pass high_watermark for consumers). CRC-checked from disk."""
        if self._closed:
            raise LogClosedError(f"{self.name} is closed")
        if offset < self.start_offset or offset > self.next_offset:
            raise OffsetOutOfRangeError(offset, self.start_offset, self.next_offset)
        upto = self.next_offset if upto is None else min(upto, self.next_offset)
        result = ReadResult(next_offset=offset)
        if offset >= upto:
            return result
        if self._read_cached(result, offset, max_bytes, upto):
            self._shared.probe.cache_hit()
        else:
            self._shared.probe.cache_missed()
        if result.next_offset < upto and result.size_bytes < max_bytes:
            self._read_segments(result, result.next_offset, max_bytes, upto)
        return result

    def read_ahead_range(self, offset: int, max_bytes: int) -> tuple[int, int, int] | None:
        """(fd, start, length) of the file bytes read(offset, max_bytes) would take from the
        disk, or None when the batch cache serves offset (or the log does not hold it).
        Warm them with read_ahead.warm() before read(), so read() does not wait on the disk
        on the reactor."""
        if self._closed or not self.start_offset <= offset < self.next_offset:
            return None
        if self._shared.cache.contains(self.log_id, offset):
            return None
        bases = [s.base_offset for s in self.segments]
        segment = self.segments[max(bisect_right(bases, offset) - 1, 0)]
        if segment.read_fd is None or segment.next_offset <= offset:
            return None
        start = segment.index.position_for(offset)
        want = min(max_bytes + 2 * segment.index.interval_bytes, self._config.read_bytes_max)
        length = min(segment.written, start + want) - start
        return (segment.read_fd, start, length) if length > 0 else None

    async def read_ahead(self, offset: int, max_bytes: int) -> None:
        """Warm what read(offset, max_bytes) will take from the disk, on a reader thread."""
        found = self.read_ahead_range(offset, max_bytes)
        if found is not None:
            await warm(*found)

    def _read_cached(self, result: ReadResult, offset: int, max_bytes: int, upto: int) -> bool:
        cache = self._shared.cache
        for _ in range(100_000):
            batch = cache.get(self.log_id, offset)
            if batch is None or offset >= upto:
                break
            if result.batches and result.size_bytes + len(batch) > max_bytes:
                break
            result.batches.append(memoryview(batch).toreadonly())
            result.size_bytes += len(batch)
            offset = rb.read_header(batch).next_offset
            result.next_offset = offset
        return bool(result.batches)

    def _read_segments(self, result: ReadResult, offset: int, max_bytes: int, upto: int) -> None:
        bases = [s.base_offset for s in self.segments]
        for segment in self.segments[max(bisect_right(bases, offset) - 1, 0) :]:
            if segment.next_offset <= offset:
                continue
            if result.batches and offset >= upto:
                return
            budget = max(max_bytes - result.size_bytes, 1)
            try:
                span = segment.read(offset, budget, upto, self._config.read_bytes_max,
                                    at_least_one=not result.batches)
            except CorruptBatchError:
                self._shared.probe.corrupt_batch_found()
                raise
            if span.from_file:
                self._shared.probe.read_from_disk(span.size_bytes)
            if span.batches:
                assert span.batches is not None
                result.batches.extend(span.batches)
                result.size_bytes += span.size_bytes
                result.next_offset = offset = span.next_offset
            if span.full or result.size_bytes >= max_bytes:
                return

    def offset_for_timestamp(self, timestamp: int) -> int | None:
        """First offset whose batch has max_timestamp >= timestamp (ListOffsets), else None.
        Batch granularity: the base offset of the first such batch (or the start offset)."""
        for segment in self.segments:
            position = segment.index.position_for_time(timestamp)
            if position is None or segment.next_offset <= self.start_offset:
                continue
            found = _scan_for_time(segment, position, timestamp)
            if found is not None:
                return max(found, self.start_offset)
        return None


def _scan_for_time(segment: Segment, position: int, timestamp: int) -> int | None:
    for _ in range(segment.size_bytes // rb.BATCH_LENGTH_MIN + 1):
        if position >= segment.size_bytes:
            return None
        data, _ = segment.read_span(position, position + rb.BATCH_HEADER_BYTES)
        header = rb.read_header(data)
        if header.max_timestamp >= timestamp:
            return header.base_offset
        position += header.size_bytes
    return None
