"""Cross-check with a second client: aiokafka's record batches (Cython and pure-Python).

aiokafka ships every codec (through cramjam) and its own batch code, so this runs for all
five codecs in any environment: its batches decode with ours and ours decode with its reader.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.record import default_records as aio
from hypothesis import given, settings
from hypothesis import strategies as st

from panda.storage.compression import Compression
from panda.storage.record_batch import Record, build_batch, decode_records, validate_crc

IMPLEMENTATIONS = {
    "cython": (aio._DefaultRecordBatchBuilderCython, aio._DefaultRecordBatchCython),
    "python": (aio._DefaultRecordBatchBuilderPy, aio._DefaultRecordBatchPy),
}
SETTINGS = settings(max_examples=12, deadline=None, database=None)

nullable = st.none() | st.binary(max_size=300)
record_values = st.lists(
    st.tuples(
        nullable,
        nullable,
        st.integers(min_value=0, max_value=2**41),
        st.lists(st.tuples(st.text(max_size=6), st.none() | st.binary(max_size=8)), max_size=2),
    ),
    min_size=1,
    max_size=20,
)


def aiokafka_build(impl: str, codec: Compression, values: list[Any]) -> bytes:
    builder_type, _ = IMPLEMENTATIONS[impl]
    builder = builder_type(2, int(codec), 1, 21, 4, 9, 1 << 24)
    for delta, (key, value, timestamp, headers) in enumerate(values):
        assert builder.append(delta, timestamp, key, value, headers) is not None
    return bytes(builder.build())


def aiokafka_read(impl: str, buf: bytes) -> tuple[Any, list[Record]]:
    _, batch_type = IMPLEMENTATIONS[impl]
    batch = batch_type(bytearray(buf))
    assert batch.validate_crc()
    return batch, [Record(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("codec", list(Compression))
@SETTINGS
@given(values=record_values)
def test_aiokafka_batches_decode_with_ours(
    impl: str, codec: Compression, values: list[Any]
) -> None:
    buf = aiokafka_build(impl, codec, values)
    header = validate_crc(buf)
    assert header.compression in (codec, Compression.NONE)  # NONE when compressing won't shrink
    assert header.is_transactional
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (21, 4, 9)
    expected = [Record(i, ts, k, v, h) for i, (k, v, ts, h) in enumerate(values)]
    assert decode_records(buf) == expected


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("codec", list(Compression))
@SETTINGS
@given(values=record_values, base_offset=st.integers(min_value=0, max_value=2**40))
def test_our_batches_decode_with_aiokafka(
    impl: str, codec: Compression, values: list[Any], base_offset: int
) -> None:
    records = [Record(base_offset + i, ts, k, v, h) for i, (k, v, ts, h) in enumerate(values)]
    buf = build_batch(records, base_offset=base_offset, compression=codec)
    batch, decoded = aiokafka_read(impl, buf)
    assert (batch.base_offset, batch.compression_type) == (base_offset, codec)
    assert decoded == records


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("codec", list(Compression))
def test_compressible_aiokafka_batch_keeps_its_codec(impl: str, codec: Compression) -> None:
    values = [(b"k%d" % i, b"value " * 40, 1_700_000_000_000 + i, [("h", b"x")]) for i in range(50)]
    buf = aiokafka_build(impl, codec, values)
    assert validate_crc(buf).compression == codec
    assert [r.value for r in decode_records(buf)] == [v[1] for v in values]
