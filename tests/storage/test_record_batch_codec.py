"""Whole v2 batches: round trips for every codec, control markers, and hostile input.

Property tests: any records round-trip through build_batch/decode_records for every codec;
random bytes and mutated valid batches raise only StorageError subclasses, and a zip bomb
stops at decompressed_bytes_max.
"""

from __future__ import annotations

import os
import struct
import tracemalloc

import cramjam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panda.storage.compression import Compression, compress, decompress
from panda.storage.errors import (
    CompressionError,
    CorruptBatchError,
    DecompressedSizeExceededError,
    StorageError,
)
from panda.storage.record_batch import (
    BATCH_HEADER_BYTES,
    CRC32C_BACKEND,
    TIMESTAMP_LOG_APPEND_TIME,
    ControlType,
    Record,
    build_batch,
    build_control_batch,
    decode_control_record,
    decode_records,
    read_header,
    set_log_append_time,
    validate_crc,
)

PROPERTY = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
FUZZ = settings(max_examples=300, deadline=None, database=None)

nullable_bytes = st.none() | st.binary(max_size=64)
headers = st.lists(st.tuples(st.text(max_size=8), nullable_bytes), max_size=3)
timestamps = st.integers(min_value=0, max_value=2**41)


@st.composite
def record_lists(draw: st.DrawFn) -> tuple[int, list[Record]]:
    base_offset = draw(st.integers(min_value=0, max_value=2**40))
    gaps = draw(st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=12))
    records, offset = [], base_offset - 1
    for gap in gaps:
        offset += gap
        records.append(
            Record(
                offset, draw(timestamps), draw(nullable_bytes), draw(nullable_bytes), draw(headers)
            )
        )
    return base_offset, records


@PROPERTY
@given(record_lists(), st.sampled_from(list(Compression)), st.booleans())
def test_round_trip_every_codec(
    case: tuple[int, list[Record]], codec: Compression, transactional: bool
) -> None:
    base_offset, records = case
    buf = build_batch(
        records,
        base_offset=base_offset,
        compression=codec,
        producer_id=42,
        producer_epoch=3,
        base_sequence=7,
        is_transactional=transactional,
        partition_leader_epoch=5,
    )
    header = validate_crc(buf)
    assert header.size_bytes == len(buf)
    assert (header.compression, header.is_transactional, header.is_control) == (
        codec,
        transactional,
        False,
    )
    assert (header.base_offset, header.last_offset) == (base_offset, records[-1].offset)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (42, 3, 7)
    assert header.partition_leader_epoch == 5 and header.records_count == len(records)
    assert header.max_timestamp == max(r.timestamp for r in records)
    assert decode_records(buf) == records


def test_log_append_time_stamps_every_record() -> None:
    records = [Record(i, 10 + i, None, b"v", []) for i in range(3)]
    buf = build_batch(records, timestamp_type=TIMESTAMP_LOG_APPEND_TIME, max_timestamp=999)
    assert read_header(buf).timestamp_type == TIMESTAMP_LOG_APPEND_TIME
    assert [r.timestamp for r in decode_records(buf)] == [999, 999, 999]


@pytest.mark.parametrize("codec", [Compression.NONE, Compression.ZSTD])
def test_broker_stamps_log_append_time(codec: Compression) -> None:
    records = [Record(i, 10 + i, b"k", b"v", []) for i in range(3)]
    buf = bytearray(build_batch(records, compression=codec))
    set_log_append_time(buf, 0, validate_crc(buf), 5_000)
    header = validate_crc(buf)
    assert (header.timestamp_type, header.max_timestamp, header.compression) == (1, 5_000, codec)
    assert [r.timestamp for r in decode_records(buf)] == [5_000] * 3


@pytest.mark.parametrize("kind", list(ControlType))
def test_control_batch_round_trip(kind: ControlType) -> None:
    buf = build_control_batch(
        kind, producer_id=9, producer_epoch=2, coordinator_epoch=17, timestamp=1234, base_offset=50
    )
    header = validate_crc(buf)
    assert header.is_control and header.is_transactional and header.records_count == 1
    assert (header.base_offset, header.producer_id, header.producer_epoch) == (50, 9, 2)
    (record,) = decode_records(buf)
    assert record.key == struct.pack(">hh", 0, kind) and record.value == struct.pack(">hi", 0, 17)
    marker = decode_control_record(record)
    assert (marker.type, marker.coordinator_epoch, marker.version) == (kind, 17, 0)


def test_short_control_record_is_corrupt() -> None:
    with pytest.raises(CorruptBatchError):
        decode_control_record(Record(0, 0, b"\x00\x00", b"\x00" * 6, []))
    with pytest.raises(CorruptBatchError):
        decode_control_record(Record(0, 0, b"\x00" * 4, None, []))


def test_builder_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one record"):
        build_batch([])
    with pytest.raises(ValueError, match="increase"):
        build_batch([Record(3, 0, None, None, []), Record(3, 0, None, None, [])], base_offset=3)
    with pytest.raises(ValueError, match="codec"):
        build_batch([Record(0, 0, None, None, [])], compression=6)


def test_crc_backend_is_native() -> None:
    assert CRC32C_BACKEND in ("crc32c", "google-crc32c")


# --- compression -----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", list(Compression))
@pytest.mark.parametrize("size", [0, 1, 100_000])
def test_codec_round_trip(codec: Compression, size: int) -> None:
    data = os.urandom(size // 2) + b"a" * (size - size // 2)
    assert bytes(decompress(codec, compress(codec, data))) == data


def test_snappy_accepts_raw_and_xerial() -> None:
    data = b"kafka " * 20_000
    xerial = compress(Compression.SNAPPY, data)
    assert xerial.startswith(b"\x82SNAPPY\x00")
    assert bytes(decompress(Compression.SNAPPY, xerial)) == data
    raw = bytes(cramjam.snappy.compress_raw(data))
    assert bytes(decompress(Compression.SNAPPY, raw)) == data


def test_lz4_frames_have_independent_blocks() -> None:
    frame = compress(Compression.LZ4, os.urandom(200_000))
    assert frame[:4] == b"\x04\x22\x4d\x18" and frame[4] & 0x20  # FLG.B.Indep


@pytest.mark.parametrize("codec", [c for c in Compression if c != Compression.NONE])
def test_zip_bomb_stops_at_limit(codec: Compression) -> None:
    limit = 1 << 20
    bomb = compress(codec, bytes(16 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(DecompressedSizeExceededError, match="decompressed_bytes_max"):
            decompress(codec, bomb, decompressed_bytes_max=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * limit
    assert len(bytes(decompress(codec, bomb, decompressed_bytes_max=16 << 20))) == 16 << 20


def test_zip_bomb_inside_a_batch() -> None:
    buf = build_batch([Record(0, 0, None, bytes(4 << 20), [])], compression=Compression.ZSTD)
    assert len(buf) < 4096
    with pytest.raises(DecompressedSizeExceededError):
        decode_records(buf, decompressed_bytes_max=1 << 20)


def test_unknown_codec_in_attributes_is_corrupt() -> None:
    buf = bytearray(build_batch([Record(0, 0, b"k", b"v", [])]))
    buf[22] |= 0x07  # attributes low byte: codec 7
    with pytest.raises(CompressionError, match="codec 7"):
        decode_records(buf, check_crc=False)


# --- hostile input ---------------------------------------------------------------------------


def expect_storage_error_or_result(buf: bytes | bytearray) -> None:
    for call in (
        lambda: read_header(buf),
        lambda: validate_crc(buf),
        lambda: decode_records(buf, check_crc=False, decompressed_bytes_max=1 << 20),
        lambda: decode_records(buf, decompressed_bytes_max=1 << 20),
    ):
        try:
            call()
        except StorageError:
            pass


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_storage_errors(data: bytes) -> None:
    expect_storage_error_or_result(data)


@FUZZ
@given(st.binary(min_size=0, max_size=120))
def test_random_payload_behind_a_valid_header(payload: bytes) -> None:
    header = bytearray(build_batch([Record(0, 0, None, None, [])])[:BATCH_HEADER_BYTES])
    struct.pack_into(">i", header, 8, BATCH_HEADER_BYTES - 12 + len(payload))
    for codec in Compression:
        header[22] = codec
        expect_storage_error_or_result(bytes(header) + payload)


@st.composite
def mutated_batches(draw: st.DrawFn) -> bytearray:
    base_offset, records = draw(record_lists())
    codec = draw(st.sampled_from(list(Compression)))
    buf = bytearray(build_batch(records, base_offset=base_offset, compression=codec))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(buf) - 1))
        action = draw(st.sampled_from(["flip", "byte", "cut", "insert"]))
        if action == "flip":
            buf[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif action == "byte":
            buf[position] = draw(st.integers(min_value=0, max_value=255))
        elif action == "cut":
            del buf[position:]
            if not buf:
                break
        else:
            buf[position:position] = draw(st.binary(min_size=1, max_size=4))
    return buf


@pytest.mark.sim
@FUZZ
@given(mutated_batches())
def test_mutated_batches_raise_only_storage_errors(buf: bytearray) -> None:
    expect_storage_error_or_result(buf)


MAGICS = {
    Compression.GZIP: b"\x1f\x8b\x08\x00",
    Compression.SNAPPY: b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01",
    Compression.LZ4: b"\x04\x22\x4d\x18",
    Compression.ZSTD: b"\x28\xb5\x2f\xfd",
}


@FUZZ
@given(st.sampled_from(list(MAGICS)), st.booleans(), st.binary(max_size=300))
def test_random_compressed_payloads_raise_only_compression_errors(
    codec: Compression, with_magic: bool, tail: bytes
) -> None:
    data = (MAGICS[codec] if with_magic else b"") + tail
    try:
        out = decompress(codec, data, decompressed_bytes_max=1 << 16)
    except CompressionError:
        return
    assert len(out) <= 1 << 16
