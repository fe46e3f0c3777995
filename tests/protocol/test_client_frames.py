"""Real client bytes: every request frame captured from confluent-kafka, kafka-python,
aiokafka and kcat decodes with every schema byte consumed and re-encodes to identical
bytes; the Tansu responses decode too. Skipped only when ../shared is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from panda.net.kafka import (
    ProtocolError,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)

from .conftest import FRAMES_DIR

# Frames known to carry bytes after the last field of their schema (see the corpus README).
TRAILING_EXPECTED = {"requests/confluent-kafka/00010-Metadata-v12.bin": 3}
# Tansu 0.6.0 replies that are short of their schema (not authoritative Kafka responses):
# OffsetFetch v3 ends inside the topics array length, ListOffsets v0 lacks old_style_offsets.
MALFORMED_TANSU = {
    "responses-from-tansu/aiokafka/00072-OffsetFetch-v3.bin",
    "responses-from-tansu/kcat/00022-ListOffsets-v0.bin",
}
COMPRESSION_CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
BATCH_ATTRIBUTES_OFFSET = 21  # base offset 8, length 4, epoch 4, magic 1, crc 4
BATCH_MAGIC_OFFSET = 16


def _read(frame_file: str) -> bytes:
    return (FRAMES_DIR / frame_file).read_bytes()


def test_every_request_frame_decodes_fully_and_reencodes_identically(frames) -> None:
    trailing_seen = {}
    for meta in frames:
        data = _read(meta["file"])
        header, body, trailing = decode_request(data)
        assert (header.request_api_key, header.request_api_version) == \
            (meta["api_key"], meta["api_version"]), meta["file"]
        assert header.correlation_id == meta["correlation_id"]
        assert header.client_id == meta["client_id"]
        if trailing:
            trailing_seen[meta["file"]] = trailing
        assert bytes(encode_request(header, body)) == data[: len(data) - trailing], meta["file"]
    assert trailing_seen == TRAILING_EXPECTED
    assert len(frames) == len(list((FRAMES_DIR / "requests").glob("*/*.bin")))


def test_header_length_matches_index(frames) -> None:
    from panda.net.kafka.codec import _header, request_header_version
    from panda.net.kafka.registry import request_codec
    for meta in frames:
        data = _read(meta["file"])
        entry = request_codec(meta["api_key"])
        hv = request_header_version(meta["api_key"], meta["api_version"], entry)
        assert hv == meta["header_version"], meta["file"]
        _hdr, end = _header(True).decoders[hv](data, memoryview(data), 0)
        assert end == meta["header_length"], meta["file"]


def _batch_codecs(records: memoryview) -> set[str]:
    """Compression codec of every v2 batch in a records field (walks batch lengths)."""
    found, pos = set(), 0
    while pos + BATCH_ATTRIBUTES_OFFSET + 2 <= len(records):
        length = int.from_bytes(records[pos + 8:pos + 12], "big")
        if records[pos + BATCH_MAGIC_OFFSET] == 2:
            found.add(COMPRESSION_CODECS[records[pos + BATCH_ATTRIBUTES_OFFSET + 1] & 7])
        pos += 12 + length
    return found


def test_produce_records_stay_opaque_views_into_the_frame(frames) -> None:
    produce = [m for m in frames if m["api_name"] == "Produce"]
    assert produce
    for meta in produce:
        data = _read(meta["file"])
        _header, body, _ = decode_request(data)
        assert body.acks == meta["produce_acks"], meta["file"]
        codecs: set[str] = set()
        for topic in body.topic_data:
            for part in topic.partition_data:
                assert isinstance(part.records, memoryview), meta["file"]
                assert part.records.obj is data  # a view of the frame, not a copy
                codecs |= _batch_codecs(part.records)
        if 2 in meta["record_batch_magic"]:
            assert codecs == set(meta["compression"]), meta["file"]


def test_tansu_responses_decode(frames) -> None:
    checked = 0
    for meta in frames:
        rel = meta.get("tansu_response_file")
        if not rel:
            continue
        data = _read(rel)
        if rel in MALFORMED_TANSU:
            with pytest.raises(ProtocolError) as err:
                decode_response(data, meta["api_key"], meta["api_version"])
            assert err.value.api_key == meta["api_key"] and err.value.offset is not None
            continue
        header, body, trailing = decode_response(data, meta["api_key"], meta["api_version"])
        assert trailing == 0, rel
        assert header.correlation_id == meta["correlation_id"], rel
        # Tansu writes some tagged fields at their default value, which Kafka omits, so
        # compare objects after a re-encode rather than bytes.
        again = encode_response(header, body, meta["api_key"], meta["api_version"])
        assert decode_response(again, meta["api_key"], meta["api_version"])[1] == body, rel
        checked += 1
    assert checked > 250


def test_corpus_paths_are_relative_to_frames_dir(frames) -> None:
    assert all(not Path(m["file"]).is_absolute() for m in frames)
