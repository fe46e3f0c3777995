"""The records inside a v2 batch: varint codec, whole-batch build and decode.

Owns the record layout (length, attributes, timestamp and offset deltas, key, value, headers)
and `build_batch` / `decode_records`. Invariant: decoding raises only StorageError subclasses
on bad input and never reads past its record. Never runs on the produce or fetch path: batches
stay opaque there (header and CRC only, batch_header.py).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

import msgspec

from panda.storage.batch_crc import Buffer, crc32c_span
from panda.storage.batch_header import (
    ATTR_CONTROL,
    ATTR_TIMESTAMP_TYPE,
    ATTR_TRANSACTIONAL,
    BATCH_HEADER_BYTES,
    BATCH_OVERHEAD_BYTES,
    CRC_OFFSET,
    CRC_START,
    HEADER_LAYOUT,
    MAGIC_V2,
    NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    RecordBatchHeader,
    read_header,
    validate_crc,
)
from panda.storage.compression import (
    DECOMPRESSED_BYTES_MAX_DEFAULT,
    Compression,
    compress,
    decompress,
)
from panda.storage.errors import CorruptBatchError, TruncatedBatchError

_U32 = struct.Struct(">I")

RECORD_BYTES_MIN: Final = 7  # length, attributes, two deltas, key, value, header count
VARINT_BYTES_MAX: Final = 10  # a zigzag varlong of 64 bits
_INT32_MAX: Final = 2**31 - 1

Header = tuple[str, bytes | None]


class Record(msgspec.Struct, gc=False):
    """One record of a batch, with absolute offset and timestamp (ms). key/value may be None."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[Header] = []


def _varint_bytes(value: int) -> bytearray:
    """`value` as a zigzag varint (Kafka's varint/varlong, protobuf's sint64)."""
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zigzag >= 0x80:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return out


_VARINT_CACHED_MAX: Final = 1023  # lengths and deltas up to this come from a 36 KB table
_VARINTS = tuple(bytes(_varint_bytes(v)) for v in range(-1, _VARINT_CACHED_MAX + 1))


def _put_varint(out: bytearray, value: int) -> None:
    out += _VARINTS[value + 1] if -1 <= value <= _VARINT_CACHED_MAX else _varint_bytes(value)


def _put_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        out.append(1)  # zigzag(-1)
        return
    _put_varint(out, len(data))
    out += data


def _encode_record(out: bytearray, record: Record, offset_delta: int, timestamp_delta: int) -> None:
    body = bytearray(b"\x00")  # record attributes: unused, always 0
    _put_varint(body, timestamp_delta)
    _put_varint(body, offset_delta)
    _put_bytes(body, record.key)
    _put_bytes(body, record.value)
    _put_varint(body, len(record.headers))
    for key, value in record.headers:
        _put_bytes(body, key.encode())
        _put_bytes(body, value)
    _put_varint(out, len(body))
    out += body


def _encode_records(records: Sequence[Record], base_offset: int, base_timestamp: int) -> bytearray:
    out = bytearray()
    previous_delta = -1
    for record in records:
        offset_delta = record.offset - base_offset
        if not previous_delta < offset_delta <= _INT32_MAX:
            raise ValueError(
                f"record offsets must increase from base_offset {base_offset}: got {record.offset}"
            )
        _encode_record(out, record, offset_delta, record.timestamp - base_timestamp)
        previous_delta = offset_delta
    return out


def _varint(buf: bytes, position: int) -> tuple[int, int]:
    """Decode a zigzag varint at buf[position]: (value, next position). IndexError if cut."""
    byte = buf[position]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), position + 1
    raw = byte & 0x7F
    shift = 7
    while True:
        position += 1
        byte = buf[position]
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (raw >> 1) ^ -(raw & 1), position + 1
        shift += 7
        if shift >= 7 * VARINT_BYTES_MAX:
            raise CorruptBatchError(f"varint longer than {VARINT_BYTES_MAX} bytes")


def _nullable_bytes(buf: bytes, position: int, end: int) -> tuple[bytes | None, int]:
    byte = buf[position]  # inline one-byte varint: most lengths are under 64
    if byte < 0x80:
        length, position = (byte >> 1) ^ -(byte & 1), position + 1
    else:
        length, position = _varint(buf, position)
    if length == -1:
        return None, position
    if length < -1 or length > end - position:
        raise CorruptBatchError(f"field length {length} overruns its record")
    return buf[position : position + length], position + length


def _decode_headers(buf: bytes, position: int, end: int) -> tuple[list[Header], int]:
    count, position = _varint(buf, position)
    if count == 0:
        return [], position
    if count < 0 or count * 2 > end - position:
        raise CorruptBatchError(f"header count {count} does not fit its record")
    headers: list[Header] = []
    for _ in range(count):
        key, position = _nullable_bytes(buf, position, end)
        if key is None:
            raise CorruptBatchError("null header key")
        value, position = _nullable_bytes(buf, position, end)
        headers.append((key.decode(), value))
    return headers, position


def _decode_record(
    buf: bytes, position: int, base_offset: int, base_timestamp: int
) -> tuple[Record, int]:
    """Decode the record at buf[position]: (record, position after it)."""
    length, position = _varint(buf, position)
    end = position + length
    if length < RECORD_BYTES_MIN - 1 or end > len(buf):
        raise CorruptBatchError(f"record length {length} overruns the batch")
    timestamp_delta, position = _varint(buf, position + 1)  # skip record attributes
    offset_delta, position = _varint(buf, position)
    key, position = _nullable_bytes(buf, position, end)
    value, position = _nullable_bytes(buf, position, end)
    headers, position = _decode_headers(buf, position, end)
    if position != end:
        raise CorruptBatchError(f"record declares {length} bytes, its fields take another count")
    record = Record(
        base_offset + offset_delta, base_timestamp + timestamp_delta, key, value, headers
    )
    return record, end


def _decode_payload(payload: bytes, header: RecordBatchHeader) -> list[Record]:
    if header.records_count * RECORD_BYTES_MIN > len(payload):
        raise CorruptBatchError(f"{header.records_count} records cannot fit {len(payload)} bytes")
    records = []
    position = 0
    base_offset, base_timestamp = header.base_offset, header.base_timestamp
    try:
        for _ in range(header.records_count):
            record, position = _decode_record(payload, position, base_offset, base_timestamp)
            records.append(record)
    except (IndexError, UnicodeDecodeError) as error:
        raise CorruptBatchError(f"records end mid-field: {error}") from None
    if position != len(payload):
        raise CorruptBatchError(f"{len(payload) - position} bytes after the last record")
    if header.timestamp_type == TIMESTAMP_LOG_APPEND_TIME:
        for record in records:
            record.timestamp = header.max_timestamp
    return records


def decode_records(
    buf: Buffer,
    offset: int = 0,
    *,
    check_crc: bool = True,
    decompressed_bytes_max: int = DECOMPRESSED_BYTES_MAX_DEFAULT,
) -> list[Record]:
    """Decode every record of the batch at buf[offset], decompressing as its attributes say.

    Offsets are absolute (base_offset + delta); under LogAppendTime every timestamp is the
    batch's max_timestamp. Raises only StorageError subclasses on bad input.
    """
    header = validate_crc(buf, offset) if check_crc else read_header(buf, offset)
    end = offset + header.size_bytes
    if end > len(buf):
        raise TruncatedBatchError(f"batch of {header.size_bytes} bytes, {len(buf) - offset} held")
    payload: Buffer = memoryview(buf)[offset + BATCH_HEADER_BYTES : end]
    if header.compression != Compression.NONE:
        payload = decompress(
            header.compression, payload, decompressed_bytes_max=decompressed_bytes_max
        )
    # One copy to bytes: slicing bytes yields each key/value in a single step.
    return _decode_payload(bytes(payload), header)


def _attributes(
    compression: int, timestamp_type: int, is_transactional: bool, is_control: bool
) -> int:
    if compression not in Compression.__members__.values():
        raise ValueError(f"unknown compression codec {compression}")
    return (
        compression
        | (ATTR_TIMESTAMP_TYPE if timestamp_type == TIMESTAMP_LOG_APPEND_TIME else 0)
        | (ATTR_TRANSACTIONAL if is_transactional else 0)
        | (ATTR_CONTROL if is_control else 0)
    )


def build_batch(
    records: Sequence[Record],
    *,
    base_offset: int = 0,
    compression: int = Compression.NONE,
    timestamp_type: int = TIMESTAMP_CREATE_TIME,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    is_transactional: bool = False,
    is_control: bool = False,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    max_timestamp: int | None = None,
    compression_level: int | None = None,
) -> bytes:
    """Encode `records` (absolute, increasing offsets from base_offset) as one v2 batch.

    base_timestamp is the first record's timestamp; max_timestamp defaults to the largest
    record timestamp (pass the append time for LogAppendTime). Raises ValueError on bad input.
    """
    if not records:
        raise ValueError("a batch needs at least one record")
    attributes = _attributes(compression, timestamp_type, is_transactional, is_control)
    base_timestamp = records[0].timestamp
    body = _encode_records(records, base_offset, base_timestamp)
    payload = compress(compression, body, level=compression_level)
    out = bytearray(BATCH_HEADER_BYTES) + payload
    HEADER_LAYOUT.pack_into(
        out,
        0,
        base_offset,
        len(out) - BATCH_OVERHEAD_BYTES,
        partition_leader_epoch,
        MAGIC_V2,
        0,
        attributes,
        records[-1].offset - base_offset,
        base_timestamp,
        max(r.timestamp for r in records) if max_timestamp is None else max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    _U32.pack_into(out, CRC_OFFSET, crc32c_span(out, CRC_START, len(out)))
    return bytes(out)
