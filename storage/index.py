"""Sparse offset index and time index of one segment, in memory, persisted when the segment seals.

Owns the mapping offset -> file position and timestamp -> offset. Invariant: entries are
strictly increasing in offset and position, and the time entries carry the running maximum
timestamp, so both lookups are one bisect. Never touches the segment's data file.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right

import google_crc32c
import msgspec

_CRC = struct.Struct(">I")


class SegmentIndexFile(msgspec.Struct, frozen=True, kw_only=True):
    """On-disk form of a sealed segment's index (msgpack after a 4-byte CRC32C of it)."""

    version: int
    base_offset: int
    next_offset: int
    size_bytes: int
    max_timestamp: int
    offsets: bytes  # array('q'): base offset of indexed batches
    positions: bytes  # array('q'): file position of those batches
    times: bytes  # array('q'): running max timestamp up to and including that batch


INDEX_VERSION = 1
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(SegmentIndexFile)


class SegmentIndex:
    """Offset and time index of one segment plus its summary (end offset, size, max time)."""

    def __init__(self, base_offset: int, interval_bytes: int) -> None:
        self.base_offset = base_offset
        self.next_offset = base_offset
        self.size_bytes = 0
        self.max_timestamp = -1
        self.interval_bytes = interval_bytes
        self._bytes_since_entry = 0
        self.offsets = array("q")
        self.positions = array("q")
        self.times = array("q")

    @property
    def empty(self) -> bool:
        return self.size_bytes == 0

    def add(self, base_offset: int, next_offset: int, position: int, size: int, ts: int) -> None:
        """Record a batch appended at `position` (must follow the previous one)."""
        assert position == self.size_bytes, (position, self.size_bytes)
        assert base_offset >= self.next_offset, (base_offset, self.next_offset)
        self.max_timestamp = max(self.max_timestamp, ts)
        if not self.offsets or self._bytes_since_entry >= self.interval_bytes:
            self.offsets.append(base_offset)
            self.positions.append(position)
            self.times.append(self.max_timestamp)
            self._bytes_since_entry = 0
        self._bytes_since_entry += size
        self.size_bytes = position + size
        self.next_offset = next_offset

    def position_for(self, offset: int) -> int:
        """File position of an indexed batch at or before the batch holding `offset`."""
        i = bisect_right(self.offsets, offset) - 1
        return self.positions[i] if i >= 0 else 0

    def position_for_time(self, timestamp: int) -> int | None:
        """Position to scan from for the first batch with max_timestamp >= timestamp, or None."""
        if self.max_timestamp < timestamp:
            return None
        i = bisect_left(self.times, timestamp)
        return self.positions[i - 1] if i > 0 else 0

    def truncate(self, position: int, next_offset: int) -> None:
        """Forget every batch at or past `position`; the segment now ends at next_offset."""
        keep = bisect_left(self.positions, position)
        del self.offsets[keep:], self.positions[keep:], self.times[keep:]
        self.size_bytes = position
        self.next_offset = next_offset
        self._bytes_since_entry = self.interval_bytes
        self.max_timestamp = self.times[-1] if self.times else -1

    def reopen_for_appends(self) -> None:
        """After decoding: the next batch added gets an entry (no interval bookkeeping kept)."""
        self._bytes_since_entry = self.interval_bytes

    def copy_prefix(self, position: int, next_offset: int) -> SegmentIndex:
        """A copy holding only the batches before position (which ends at next_offset)."""
        copy = SegmentIndex(self.base_offset, self.interval_bytes)
        copy.offsets.extend(self.offsets)
        copy.positions.extend(self.positions)
        copy.times.extend(self.times)
        copy.size_bytes, copy.next_offset = self.size_bytes, self.next_offset
        copy.truncate(position, next_offset)
        return copy

    def encode(self) -> bytes:
        payload = _ENCODER.encode(
            SegmentIndexFile(
                version=INDEX_VERSION,
                base_offset=self.base_offset,
                next_offset=self.next_offset,
                size_bytes=self.size_bytes,
                max_timestamp=self.max_timestamp,
                offsets=self.offsets.tobytes(),
                positions=self.positions.tobytes(),
                times=self.times.tobytes(),
            )
        )
        return _CRC.pack(google_crc32c.value(payload)) + payload

    @classmethod
    def decode(cls, data: bytes, interval_bytes: int) -> SegmentIndex | None:
        """The index stored in `data`, or None when it is damaged or of another version."""
        if len(data) < _CRC.size or _CRC.unpack_from(data)[0] != google_crc32c.value(data[4:]):
            return None
        try:
            stored = _DECODER.decode(data[4:])
        except msgspec.DecodeError:
            return None
        if stored.version != INDEX_VERSION:
            return None
        index = cls(stored.base_offset, interval_bytes)
        index.next_offset = stored.next_offset
        index.size_bytes = stored.size_bytes
        index.max_timestamp = stored.max_timestamp
        index.offsets.frombytes(stored.offsets)
        index.positions.frombytes(stored.positions)
        index.times.frombytes(stored.times)
        return index
