"""Cross-check with a real client: kafka-python's DefaultRecordBatchBuilder / DefaultRecordBatch.

Batches kafka-python builds decode with ours; batches we build decode with its reader, for
every codec whose kafka-python backend (python-snappy, lz4, zstandard) is importable. Without
python-snappy, kafka-python's own xerial framing still runs, over cramjam's raw snappy blocks.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Iterator
from typing import Any

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panda.storage.compression import Compression
from panda.storage.record_batch import (
    Record,
    build_batch,
    decode_records,
    set_log_append_time,
    validate_crc,
)

with warnings.catch_warnings():  # kafka-python imports use importlib.resources.read_text
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import codec as kafka_codec
    from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

BACKEND_OF = {
    Compression.NONE: ("builtin", lambda: True),
    Compression.GZIP: ("builtin", kafka_codec.has_gzip),
    Compression.SNAPPY: ("python-snappy", kafka_codec.has_snappy),
    Compression.LZ4: ("lz4", kafka_codec.has_lz4),
    Compression.ZSTD: ("zstandard", kafka_codec.has_zstd),
}
SETTINGS = settings(max_examples=25, deadline=None, database=None)


@pytest.fixture(autouse=True, scope="module")
def raw_snappy_for_kafka_python() -> Iterator[None]:
    """kafka-python frames snappy (xerial) itself and needs only raw blocks from python-snappy."""
    with pytest.MonkeyPatch.context() as patch:
        if not kafka_codec.has_snappy():
            shim = types.SimpleNamespace(
                compress=lambda data: bytes(cramjam.snappy.compress_raw(bytes(data))),
                decompress=lambda data: bytes(cramjam.snappy.decompress_raw(bytes(data))),
            )
            patch.setattr(kafka_codec, "snappy", shim)
        yield


def require_codec(codec: Compression) -> None:
    package, available = BACKEND_OF[codec]
    if not available():
        pytest.skip(f"kafka-python's {codec.name.lower()} codec needs the '{package}' package")


nullable = st.none() | st.binary(max_size=40)
record_values = st.lists(
    st.tuples(
        nullable,
        nullable,
        st.integers(min_value=0, max_value=2**41),
        st.lists(st.tuples(st.text(max_size=6), nullable), max_size=2),
    ),
    min_size=1,
    max_size=20,
)


def kafka_python_build(codec: Compression, values: list[Any], transactional: bool) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=int(codec),
        is_transactional=transactional,
        producer_id=11 if transactional else -1,
        producer_epoch=2 if transactional else -1,
        base_sequence=5 if transactional else -1,
        batch_size=1 << 24,
    )
    for delta, (key, value, timestamp, headers) in enumerate(values):
        assert builder.append(delta, timestamp, key, value, headers) is not None
    return bytes(builder.build())


def kafka_python_read(buf: bytes) -> tuple[DefaultRecordBatch, list[Record]]:
    batch = DefaultRecordBatch(bytearray(buf))
    assert batch.validate_crc()
    records = [Record(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]
    return batch, records


@pytest.mark.parametrize("codec", list(Compression))
@SETTINGS
@given(values=record_values, transactional=st.booleans())
def test_kafka_python_batches_decode_with_ours(
    codec: Compression, values: list[Any], transactional: bool
) -> None:
    require_codec(codec)
    buf = kafka_python_build(codec, values, transactional)
    header = validate_crc(buf)
    # Like librdkafka, kafka-python sends a batch uncompressed when compressing would not shrink it.
    assert header.compression in (codec, Compression.NONE)
    assert header.is_transactional == transactional
    expected = [
        Record(i, ts, key, value, headers) for i, (key, value, ts, headers) in enumerate(values)
    ]
    assert decode_records(buf) == expected


@pytest.mark.parametrize("codec", list(Compression))
@SETTINGS
@given(values=record_values, base_offset=st.integers(min_value=0, max_value=2**40))
def test_our_batches_decode_with_kafka_python(
    codec: Compression, values: list[Any], base_offset: int
) -> None:
    require_codec(codec)
    records = [
        Record(base_offset + i, ts, key, value, headers)
        for i, (key, value, ts, headers) in enumerate(values)
    ]
    buf = build_batch(
        records,
        base_offset=base_offset,
        compression=codec,
        producer_id=3,
        producer_epoch=1,
        base_sequence=0,
        is_transactional=True,
    )
    batch, decoded = kafka_python_read(buf)
    assert decoded == records
    assert (batch.base_offset, batch.compression_type, batch.is_transactional) == (
        base_offset,
        codec,
        True,
    )
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (3, 1, 0)
    assert batch.max_timestamp == max(r.timestamp for r in records)


@pytest.mark.parametrize("codec", list(Compression))
def test_compressible_kafka_python_batch_keeps_its_codec(codec: Compression) -> None:
    require_codec(codec)
    values = [
        (b"key-%d" % i, b"value " * 50, 1_700_000_000_000 + i, [("trace", b"t")])
        for i in range(100)
    ]
    buf = kafka_python_build(codec, values, transactional=False)
    assert validate_crc(buf).compression == codec
    records = decode_records(buf)
    assert [r.value for r in records] == [v[1] for v in values] and records[-1].offset == 99


def test_log_append_time_stamp_reads_in_kafka_python() -> None:
    records = [Record(i, 10 + i, b"k", b"v", []) for i in range(3)]
    buf = bytearray(build_batch(records, compression=Compression.GZIP))
    set_log_append_time(buf, 0, validate_crc(buf), 5_000)
    batch, decoded = kafka_python_read(bytes(buf))
    assert batch.timestamp_type == 1 and [r.timestamp for r in decoded] == [5_000] * 3
