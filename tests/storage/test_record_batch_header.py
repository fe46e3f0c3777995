"""Header helpers of v2 record batches: read, CRC32C, in-place rewrites, splitting a buffer."""

from __future__ import annotations

import struct
import sys
import warnings

import pytest

with warnings.catch_warnings():  # kafka-python imports use importlib.resources.read_text
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import DefaultRecordBatchBuilder

from panda.storage.errors import (
    CorruptBatchError,
    CrcMismatchError,
    StorageError,
    TruncatedBatchError,
    UnsupportedMessageFormatError,
)
from panda.storage.record_batch import (
    BATCH_HEADER_BYTES,
    compute_crc,
    iter_batches,
    read_header,
    set_base_offset,
    set_partition_leader_epoch,
    validate_crc,
)


def kafka_python_batch(records: int = 3, codec: int = 0, transactional: bool = False) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=transactional,
        producer_id=7 if transactional else -1,
        producer_epoch=1 if transactional else -1,
        base_sequence=0 if transactional else -1,
        batch_size=1 << 20,
    )
    for i in range(records):
        builder.append(i, 1_000 + i, b"k%d" % i, b"v" * i, [("h", b"x")])
    return bytes(builder.build())


def test_header_fields_and_properties() -> None:
    buf = kafka_python_batch(records=3, transactional=True)
    header = validate_crc(buf)
    assert BATCH_HEADER_BYTES == 61
    assert header.magic == 2 and header.records_count == 3
    assert header.size_bytes == len(buf) == header.batch_length + 12
    assert (header.last_offset_delta, header.last_offset, header.next_offset) == (2, 2, 3)
    assert (header.base_timestamp, header.max_timestamp) == (1_000, 1_002)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 1, 0)
    assert header.is_transactional and not header.is_control
    assert header.compression == 0 and header.timestamp_type == 0
    assert compute_crc(buf) == header.crc


def test_rewrites_outside_crc_keep_it_valid() -> None:
    buf = bytearray(b"\x00" * 5 + kafka_python_batch())
    set_base_offset(buf, 5, 1234)
    set_partition_leader_epoch(memoryview(buf), 5, 9)
    header = validate_crc(buf, 5)
    assert (header.base_offset, header.partition_leader_epoch) == (1234, 9)
    assert header.next_offset == 1237


def test_crc_mismatch_is_typed() -> None:
    buf = bytearray(kafka_python_batch())
    buf[-1] ^= 0xFF
    with pytest.raises(CrcMismatchError):
        validate_crc(buf)


def test_short_and_bad_headers() -> None:
    buf = kafka_python_batch()
    with pytest.raises(TruncatedBatchError):
        read_header(buf[:60])
    with pytest.raises(TruncatedBatchError):
        validate_crc(buf[:-1])
    bad_length = bytearray(buf)
    struct.pack_into(">i", bad_length, 8, 48)
    with pytest.raises(CorruptBatchError, match="batch_length 48"):
        read_header(bad_length)
    bad_magic = bytearray(buf)
    bad_magic[16] = 3
    with pytest.raises(CorruptBatchError, match="magic 3"):
        read_header(bad_magic)


@pytest.mark.parametrize("magic", [0, 1])
def test_legacy_magic_is_named(magic: int) -> None:
    buf = bytearray(kafka_python_batch())
    buf[16] = magic
    with pytest.raises(UnsupportedMessageFormatError, match=f"magic {magic}") as info:
        read_header(buf)
    assert info.value.magic == magic
    with pytest.raises(UnsupportedMessageFormatError):
        read_header(buf[:20])  # short, but the magic byte is already there


def test_iter_batches_splits_and_stops_at_torn_tail() -> None:
    batches = [kafka_python_batch(n) for n in (1, 2, 5)]
    whole = b"".join(batches)
    it = iter_batches(whole + batches[0][:30], check_crc=True)
    offsets = [(offset, header.records_count) for offset, header in it]
    assert offsets == [(0, 1), (len(batches[0]), 2), (len(batches[0]) + len(batches[1]), 5)]
    assert it.valid_bytes == len(whole)
    assert isinstance(it.stop_error, TruncatedBatchError) and it.torn

    clean = iter_batches(whole)
    assert len(list(clean)) == 3 and clean.valid_bytes == len(whole) and not clean.torn

    zero_tail = iter_batches(whole + bytes(4096))
    assert len(list(zero_tail)) == 3 and zero_tail.valid_bytes == len(whole)
    assert isinstance(zero_tail.stop_error, CorruptBatchError)

    with pytest.raises(TruncatedBatchError):
        list(iter_batches(whole + batches[2][:-1], strict=True))


def test_iter_batches_crc_stop() -> None:
    good, bad = kafka_python_batch(1), bytearray(kafka_python_batch(2))
    bad[-1] ^= 1
    it = iter_batches(good + bytes(bad), check_crc=True)
    assert len(list(it)) == 1 and it.valid_bytes == len(good)
    assert isinstance(it.stop_error, CrcMismatchError)
    assert isinstance(it.stop_error, StorageError)


class FakeCrc32c:
    """Stands in for the `crc32c` package to test the backend choice."""

    def __init__(self, hardware_based: bool) -> None:
        self.hardware_based = hardware_based

    @staticmethod
    def crc32c(data: memoryview, gil_release_mode: int = -1) -> int:
        import google_crc32c

        return int(google_crc32c.value(bytes(data)))


@pytest.mark.parametrize(
    ("hardware_based", "backend"), [(True, "crc32c"), (False, "google-crc32c")]
)
def test_crc_backend_choice(
    monkeypatch: pytest.MonkeyPatch, hardware_based: bool, backend: str
) -> None:
    from panda.storage import batch_crc

    monkeypatch.setitem(sys.modules, "crc32c", FakeCrc32c(hardware_based))
    name, crc = batch_crc._load_crc32c()
    buf = kafka_python_batch()
    assert name == backend
    assert crc(memoryview(bytearray(buf)), 21, len(buf)) == read_header(buf).crc


def test_pure_python_crc_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import google_crc32c

    from panda.storage import batch_crc

    monkeypatch.setitem(sys.modules, "crc32c", None)  # import crc32c -> ImportError
    monkeypatch.setattr(google_crc32c, "implementation", "python")
    with pytest.raises(ImportError, match="pure-Python fallback"):
        batch_crc._load_crc32c()


@pytest.mark.parametrize("size", [0, 100, 65_536, 65_537, 3 * 65_536 + 5, 1 << 20])
def test_google_backend_chunks_match_one_pass(size: int) -> None:
    import google_crc32c

    from panda.storage import batch_crc

    crc = batch_crc._google_crc32c(google_crc32c.extend)
    data = bytes(range(256)) * (size // 256 + 1)
    data = b"h" * 21 + data[:size]
    expected = google_crc32c.value(data[21:])
    for buf in (data, bytearray(data), memoryview(data)):
        assert crc(buf, 21, len(data)) == expected
