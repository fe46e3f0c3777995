"""Every record batch that real clients sent in Produce requests validates and decodes.

The frames come from confluent-kafka, kafka-python, aiokafka and kcat (../shared/kafka-frames).
The record sets are found with a test-local Produce parser (v1-v10), so these tests do not
depend on the protocol codecs in net/kafka.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from panda.storage.compression import Compression
from panda.storage.errors import UnsupportedMessageFormatError
from panda.storage.record_batch import decode_records, iter_batches, read_header

FRAMES = Path(__file__).resolve().parents[3] / "shared" / "kafka-frames"
FLEXIBLE_PRODUCE_VERSION = 9


def produce_frames() -> list[dict[str, Any]]:
    index = FRAMES / "index.json"
    if not index.exists():
        return []
    frames = json.loads(index.read_text())["frames"]
    return [frame for frame in frames if frame["api_name"] == "Produce"]


class Reader:
    """Just enough of the Kafka wire primitives to walk a Produce request body."""

    def __init__(self, data: bytes, flexible: bool) -> None:
        self.data, self.pos, self.flexible = data, 0, flexible

    def take(self, n: int) -> bytes:
        assert 0 <= n <= len(self.data) - self.pos, "frame cut short"
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def fixed(self, fmt: str) -> int:
        return int(struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0])

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def length(self, classic_fmt: str) -> int:
        """Length of a string/bytes/array: compact (uvarint N+1) when flexible, else fixed."""
        return self.uvarint() - 1 if self.flexible else self.fixed(classic_fmt)

    def nullable_bytes(self, classic_fmt: str) -> bytes | None:
        n = self.length(classic_fmt)
        return None if n < 0 else self.take(n)

    def tagged_fields(self) -> None:
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.take(self.uvarint())


def produce_record_sets(body: bytes, version: int) -> list[bytes]:
    reader = Reader(body, flexible=version >= FLEXIBLE_PRODUCE_VERSION)
    if version >= 3:
        reader.nullable_bytes(">h")  # transactional_id
    reader.fixed(">h")  # acks
    reader.fixed(">i")  # timeout_ms
    record_sets = []
    for _ in range(reader.length(">i")):
        reader.nullable_bytes(">h")  # topic name
        for _ in range(reader.length(">i")):
            reader.fixed(">i")  # partition index
            records = reader.nullable_bytes(">i")
            if records is not None:
                record_sets.append(records)
            reader.tagged_fields()
        reader.tagged_fields()
    reader.tagged_fields()
    assert reader.pos == len(body), f"{len(body) - reader.pos} bytes left after the body"
    return record_sets


FRAME_PARAMS = [pytest.param(frame, id=frame["file"]) for frame in produce_frames()]


@pytest.fixture(autouse=True)
def frames_present() -> None:
    if not FRAMES.exists():
        pytest.skip(f"captured client frames not found at {FRAMES} (../shared absent)")


def frame_record_sets(frame: dict[str, Any]) -> list[bytes]:
    data = (FRAMES / frame["file"]).read_bytes()
    assert len(data) == frame["length"]
    return produce_record_sets(data[frame["header_length"] :], frame["api_version"])


@pytest.mark.skipif(not FRAME_PARAMS, reason=f"no captured Produce frames under {FRAMES}")
@pytest.mark.parametrize(
    "frame", [p for p in FRAME_PARAMS if 2 in p.values[0]["record_batch_magic"]]
)
def test_client_batches_validate_and_decode(frame: dict[str, Any]) -> None:
    record_sets = frame_record_sets(frame)
    assert record_sets
    codecs = set()
    for record_set in record_sets:
        batches = iter_batches(record_set, check_crc=True, strict=True)
        for offset, header in batches:
            records = decode_records(record_set, offset)
            assert len(records) == header.records_count > 0
            assert records[-1].offset == header.last_offset
            assert all(r.timestamp <= header.max_timestamp for r in records)
            codecs.add(Compression(header.compression).name.lower())
        assert batches.valid_bytes == len(record_set)
    assert codecs == set(frame["compression"])


@pytest.mark.skipif(not FRAME_PARAMS, reason=f"no captured Produce frames under {FRAMES}")
@pytest.mark.parametrize(
    "frame", [p for p in FRAME_PARAMS if 2 not in p.values[0]["record_batch_magic"]]
)
def test_legacy_message_sets_are_refused_by_magic(frame: dict[str, Any]) -> None:
    for record_set in frame_record_sets(frame):
        with pytest.raises(UnsupportedMessageFormatError) as info:
            read_header(record_set)
        assert info.value.magic in frame["record_batch_magic"]
        assert f"magic {info.value.magic}" in str(info.value)


def test_all_clients_and_codecs_are_covered() -> None:
    frames = produce_frames()
    if not frames:
        pytest.skip(f"no captured Produce frames under {FRAMES}")
    covered = {
        (f["client"], c) for f in frames if 2 in f["record_batch_magic"] for c in f["compression"]
    }
    for client in ("confluent-kafka", "kafka-python", "aiokafka"):
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            assert (client, codec) in covered
