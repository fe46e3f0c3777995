"""The 61-byte header of a Kafka v2 record batch (magic 2): layout, checks, CRC, in-place edits.

Owns the header's byte layout and the batch framing (iterating concatenated batches).
Invariant: a batch is stored exactly as the client sent it; only base_offset and
partition_leader_epoch (both outside the CRC) are rewritten in place. Never trusts a length
from the wire without checking it against the buffer and a limit.

Header (61 bytes, big-endian), CRC32C covers byte 21 (attributes) to the end of the batch:

    0 base_offset i64 | 8 batch_length i32 | 12 partition_leader_epoch i32 | 16 magic i8
    17 crc u32 | 21 attributes i16 | 23 last_offset_delta i32 | 27 base_timestamp i64
    35 max_timestamp i64 | 43 producer_id i64 | 51 producer_epoch i16 | 53 base_sequence i32
    57 records_count i32 | 61 records...
"""

from __future__ import annotations

import struct
from typing import Final, NoReturn

import msgspec

from panda.storage.batch_crc import Buffer, crc32c_span
from panda.storage.errors import (
    CorruptBatchError,
    CrcMismatchError,
    StorageError,
    TruncatedBatchError,
    UnsupportedMessageFormatError,
)

BATCH_HEADER_BYTES: Final = 61
BATCH_LENGTH_OFFSET: Final = 8  # batch_length counts the bytes after itself
BATCH_OVERHEAD_BYTES: Final = 12  # base_offset + batch_length: size_bytes = batch_length + 12
BATCH_LENGTH_MIN: Final = BATCH_HEADER_BYTES - BATCH_OVERHEAD_BYTES  # 49: a batch of no records
LEADER_EPOCH_OFFSET: Final = 12
MAGIC_OFFSET: Final = 16
CRC_OFFSET: Final = 17
CRC_START: Final = 21  # first byte the CRC covers (attributes)
MAX_TIMESTAMP_OFFSET: Final = 35
MAGIC_V2: Final = 2

NO_PRODUCER_ID: Final = -1
NO_PRODUCER_EPOCH: Final = -1
NO_SEQUENCE: Final = -1
NO_PARTITION_LEADER_EPOCH: Final = -1
NO_TIMESTAMP: Final = -1

ATTR_COMPRESSION_MASK: Final = 0x07
ATTR_TIMESTAMP_TYPE: Final = 0x08  # 0 = CreateTime, 1 = LogAppendTime
ATTR_TRANSACTIONAL: Final = 0x10
ATTR_CONTROL: Final = 0x20
ATTR_DELETE_HORIZON: Final = 0x40  # KIP-534: base_timestamp is the delete horizon

TIMESTAMP_CREATE_TIME: Final = 0
TIMESTAMP_LOG_APPEND_TIME: Final = 1

HEADER_LAYOUT = struct.Struct(">qiibIhiqqqhii")
assert HEADER_LAYOUT.size == BATCH_HEADER_BYTES
_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I16 = struct.Struct(">h")


class RecordBatchHeader(msgspec.Struct, frozen=True, gc=False):
    """The 61-byte header of a v2 record batch, field for field."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def compression(self) -> int:
        """Codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd); see panda.storage.compression."""
        return self.attributes & ATTR_COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        """TIMESTAMP_CREATE_TIME (0) or TIMESTAMP_LOG_APPEND_TIME (1)."""
        return 1 if self.attributes & ATTR_TIMESTAMP_TYPE else 0

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & ATTR_TRANSACTIONAL)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & ATTR_CONTROL)

    @property
    def has_delete_horizon(self) -> bool:
        return bool(self.attributes & ATTR_DELETE_HORIZON)

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def size_bytes(self) -> int:
        """Bytes the whole batch occupies: header plus records."""
        return self.batch_length + BATCH_OVERHEAD_BYTES


def read_header(buf: Buffer, offset: int = 0) -> RecordBatchHeader:
    """Decode the header of the batch starting at buf[offset].

    Checks what the header alone can prove (magic, batch_length >= 49, records_count >= 0),
    not that the whole batch fits in buf: compare header.size_bytes with the bytes you hold.
    Raises TruncatedBatchError, UnsupportedMessageFormatError or CorruptBatchError.
    """
    available = len(buf) - offset
    if offset < 0 or available < BATCH_HEADER_BYTES:
        _raise_short_header(buf, offset, available)
    header = RecordBatchHeader(*HEADER_LAYOUT.unpack_from(buf, offset))
    _check_header(header)
    return header


def _raise_short_header(buf: Buffer, offset: int, available: int) -> None:
    if offset < 0:
        raise CorruptBatchError(f"negative batch offset {offset}")
    if available > MAGIC_OFFSET:
        _check_length_and_magic(
            _I32.unpack_from(buf, offset + BATCH_LENGTH_OFFSET)[0], buf[offset + MAGIC_OFFSET]
        )
    raise TruncatedBatchError(
        f"batch header needs {BATCH_HEADER_BYTES} bytes, {max(available, 0)} left at {offset}"
    )


def _check_length_and_magic(batch_length: int, magic: int) -> None:
    # Length first: preallocated zeros (length 0, magic 0) are garbage, not a legacy message.
    if batch_length <= 0:
        raise CorruptBatchError(f"batch_length {batch_length} <= 0")
    if magic in (0, 1):
        raise UnsupportedMessageFormatError(magic)
    if magic != MAGIC_V2:
        raise CorruptBatchError(f"bad batch magic {magic} (expected {MAGIC_V2})")


def _check_header(header: RecordBatchHeader) -> None:
    _check_length_and_magic(header.batch_length, header.magic)
    if header.batch_length < BATCH_LENGTH_MIN:
        raise CorruptBatchError(f"batch_length {header.batch_length} < {BATCH_LENGTH_MIN}")
    if header.records_count < 0:
        raise CorruptBatchError(f"negative records_count {header.records_count}")
    if header.last_offset_delta < 0:
        raise CorruptBatchError(f"negative last_offset_delta {header.last_offset_delta}")


def compute_crc(buf: Buffer, offset: int = 0, size_bytes: int | None = None) -> int:
    """CRC32C of the batch at buf[offset] (bytes 21..end), the value its header must carry."""
    if size_bytes is None:
        size_bytes = read_header(buf, offset).size_bytes
    if len(buf) - offset < size_bytes:
        raise TruncatedBatchError(f"batch of {size_bytes} bytes, {len(buf) - offset} held")
    return crc32c_span(buf, offset + CRC_START, offset + size_bytes)


def validate_crc(buf: Buffer, offset: int = 0) -> RecordBatchHeader:
    """Check the CRC32C of the batch at buf[offset]; return its header.

    Raises CrcMismatchError, TruncatedBatchError (buf ends before the batch) or any error of
    read_header.
    """
    header = read_header(buf, offset)
    computed = compute_crc(buf, offset, header.size_bytes)
    if computed != header.crc:
        raise CrcMismatchError(header.crc, computed)
    return header


def set_base_offset(buf: bytearray | memoryview, offset: int, base_offset: int) -> None:
    """Rewrite base_offset of the batch at buf[offset] in place (outside the CRC)."""
    _I64.pack_into(buf, offset, base_offset)


def set_partition_leader_epoch(buf: bytearray | memoryview, offset: int, epoch: int) -> None:
    """Rewrite partition_leader_epoch of the batch at buf[offset] in place (outside the CRC)."""
    _I32.pack_into(buf, offset + LEADER_EPOCH_OFFSET, epoch)


def set_log_append_time(
    buf: bytearray | memoryview, offset: int, header: RecordBatchHeader, timestamp: int
) -> None:
    """Stamp the batch at buf[offset] LogAppendTime with max_timestamp=timestamp, in place.

    Both fields are inside the CRC, which is recomputed: pass the header validate_crc returned
    for this batch, so a corrupt batch is never given a fresh, valid CRC.
    """
    _I16.pack_into(buf, offset + CRC_START, header.attributes | ATTR_TIMESTAMP_TYPE)
    _I64.pack_into(buf, offset + MAX_TIMESTAMP_OFFSET, timestamp)
    _U32.pack_into(buf, offset + CRC_OFFSET, compute_crc(buf, offset, header.size_bytes))


class BatchIterator:
    """Iterate (offset, header) over concatenated batches in buf; stop cleanly at a bad tail.

    After iteration, `valid_bytes` is the length of the prefix made of whole, well-formed
    batches (what recovery keeps) and `stop_error` is None when the batches filled buf
    exactly, else the error that ended the scan (TruncatedBatchError for a torn tail, ...).
    With strict=True the error is raised instead. With check_crc=True each batch's CRC32C is
    verified too. Preallocated zeros after the last batch end the scan as a CorruptBatchError
    (batch_length 0).
    """

    def __init__(self, buf: Buffer, *, check_crc: bool = False, strict: bool = False) -> None:
        self._buf = buf
        self._check_crc = check_crc
        self._strict = strict
        self.valid_bytes = 0
        self.stop_error: Exception | None = None
        self._done = False

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> tuple[int, RecordBatchHeader]:
        if self._done or self.valid_bytes >= len(self._buf):
            self._done = True
            raise StopIteration
        offset = self.valid_bytes
        try:
            header = self._read_whole(offset)
        except StorageError as error:
            return self._stop(error)
        self.valid_bytes = offset + header.size_bytes
        return offset, header

    def _read_whole(self, offset: int) -> RecordBatchHeader:
        if self._check_crc:
            return validate_crc(self._buf, offset)
        header = read_header(self._buf, offset)
        if len(self._buf) - offset < header.size_bytes:
            raise TruncatedBatchError(
                f"batch at {offset} needs {header.size_bytes} bytes, {len(self._buf) - offset} held"
            )
        return header

    def _stop(self, error: Exception) -> NoReturn:
        self._done = True
        self.stop_error = error
        if self._strict:
            raise error
        raise StopIteration

    @property
    def torn(self) -> bool:
        """True when the scan stopped before the end of buf."""
        return self.stop_error is not None


def iter_batches(buf: Buffer, *, check_crc: bool = False, strict: bool = False) -> BatchIterator:
    """Split buf into its concatenated batches: `for offset, header in iter_batches(buf)`.

    Keep the returned iterator to read `valid_bytes` / `stop_error` after the loop.
    """
    return BatchIterator(buf, check_crc=check_crc, strict=strict)
