"""Public API: header versions, framing, supported-version table for ApiVersions, lazy
message access, and records left opaque (memoryview) on decode."""

from __future__ import annotations

import struct
import uuid

from panda.net.kafka import (
    SUPPORTED_VERSIONS,
    RequestHeader,
    ResponseHeader,
    broker_api_versions,
    codec,
    decode_body,
    decode_request,
    decode_response,
    encode_body,
    encode_request,
    encode_response,
    messages,
    peek_request,
)
from panda.net.kafka.codec import request_header_version, response_header_version


def test_supported_versions_cover_produce_fetch_metadata() -> None:
    assert SUPPORTED_VERSIONS[0][0] <= 3 and SUPPORTED_VERSIONS[0][1] >= 9
    assert SUPPORTED_VERSIONS[1][1] >= 12
    assert SUPPORTED_VERSIONS[18] == (0, SUPPORTED_VERSIONS[18][1])


def test_broker_table_drops_controller_only_apis_and_unstable_versions() -> None:
    table = broker_api_versions()
    assert 0 in table and 1 in table and 3 in table
    assert 7 not in table  # ControlledShutdown is not served by brokers (spec listeners)
    for key, (lo, hi) in table.items():
        assert SUPPORTED_VERSIONS[key][0] == lo and hi <= SUPPORTED_VERSIONS[key][1]


def test_header_versions() -> None:
    fetch = codec("FetchRequest")
    assert request_header_version(1, 11, fetch) == 1
    assert request_header_version(1, 12, fetch) == 2
    assert request_header_version(7, 0, codec("ControlledShutdownRequest")) == 0
    assert response_header_version(18, 3, codec("ApiVersionsResponse")) == 0
    assert response_header_version(1, 12, codec("FetchResponse")) == 1


def test_request_roundtrip_with_frame_prefix() -> None:
    header = RequestHeader(request_api_key=3, request_api_version=12, correlation_id=9,
                           client_id="me")
    mod = messages.module("MetadataRequest")
    body = messages.MetadataRequest(topics=[mod.MetadataRequestTopic(name="t")])
    framed = encode_request(header, body, frame=True)
    (size,) = struct.unpack_from(">i", framed)
    assert size == len(framed) - 4
    assert peek_request(framed[4:]) == (3, 12, 9)
    assert decode_request(framed[4:]) == (header, body, 0)


def test_api_versions_response_uses_header_v0_even_when_flexible() -> None:
    body = messages.ApiVersionsResponse(error_code=0)
    wire = encode_response(ResponseHeader(correlation_id=5), body, 18, 3)
    assert wire[:4] == b"\x00\x00\x00\x05" and wire[4:6] == b"\x00\x00"  # no header tags
    assert decode_response(wire, 18, 3)[1] == body


def test_records_are_memoryview_slices() -> None:
    mod = messages.module("ProduceRequest")
    body = messages.ProduceRequest(acks=-1, timeout_ms=10, topic_data=[mod.TopicProduceData(
        name="t", partition_data=[mod.PartitionProduceData(index=0, records=b"x" * 300)])])
    header = RequestHeader(request_api_key=0, request_api_version=9, correlation_id=1)
    wire = bytes(encode_request(header, body))
    _, back, _ = decode_request(wire)
    records = back.topic_data[0].partition_data[0].records
    assert isinstance(records, memoryview) and records.obj is wire and records == b"x" * 300


def test_unknown_tagged_fields_survive_a_roundtrip() -> None:
    header = RequestHeader(request_api_key=18, request_api_version=3, correlation_id=1,
                           client_id="c", unknown_tagged_fields=[(7, b"\x01\x02")])
    body = messages.ApiVersionsRequest(client_software_name="x", client_software_version="1",
                                       unknown_tagged_fields=[(9, b"")])
    wire = encode_request(header, body)
    assert decode_request(wire) == (header, body, 0)


def test_messages_module_is_lazy_and_lists_every_spec() -> None:
    assert "FetchRequest" in messages.names() and "ConsumerProtocolAssignment" in messages.names()
    assert messages.FetchRequest is codec("FetchRequest").message


def test_long_and_non_ascii_strings_arrays_and_bytes_roundtrip() -> None:
    """Multi-byte varint lengths and strings that encode longer than one byte per char."""
    mod = messages.module("ProduceRequest")
    for name in ("a" * 200, "é" * 70, "é" * 200, "日本" * 40, "x" * 126, "é" * 63, ""):
        parts = [mod.PartitionProduceData(index=i, records=b"r" * (i * 97)) for i in range(150)]
        body = messages.ProduceRequest(transactional_id=name, acks=1, timeout_ms=5, topic_data=[
            mod.TopicProduceData(name=name, partition_data=parts)])
        for version in (3, 8, 9, 11):
            header = RequestHeader(request_api_key=0, request_api_version=version,
                                   correlation_id=1, client_id=name)
            wire = encode_request(header, body, frame=True)
            assert struct.unpack_from(">i", wire)[0] == len(wire) - 4
            assert decode_request(bytes(wire[4:])) == (header, body, 0), (name, version)


def test_long_primitive_arrays_take_the_general_writer() -> None:
    mod = messages.module("MetadataResponse")
    for replicas in ([], [1], list(range(126)), list(range(127)), list(range(300))):
        part = mod.MetadataResponsePartition(partition_index=1, replica_nodes=replicas,
                                             isr_nodes=replicas[:2], offline_replicas=replicas)
        body = messages.MetadataResponse(topics=[mod.MetadataResponseTopic(
            name="t", partitions=[part, part])])
        for version in (5, 9, 12):  # offline_replicas exists from v5
            wire = encode_response(ResponseHeader(correlation_id=3), body, 3, version)
            assert decode_response(bytes(wire), 3, version) == (ResponseHeader(correlation_id=3),
                                                               body, 0)


def test_elements_sharing_array_lengths_decode_alike_on_every_path() -> None:
    """Same-shape speculation (first element's array lengths reused for the rest) must give
    what the general loop gives, for equal, mixed and long shapes."""
    mod = messages.module("MetadataResponse")
    for shapes in ([3, 3, 3], [3, 2, 3], [0, 0, 5], [1] * 20 + [2], [0, 0], [200, 200]):
        parts = [mod.MetadataResponsePartition(partition_index=i, replica_nodes=list(range(k)),
                                               isr_nodes=list(range(k))[:1]) for i, k in
                 enumerate(shapes)]
        body = messages.MetadataResponse(topics=[mod.MetadataResponseTopic(name="t",
                                                                           partitions=parts)])
        for version in (9, 10, 12):
            wire = bytes(encode_body("MetadataResponse", version, body))
            assert decode_body("MetadataResponse", version, wire) == (body, len(wire))
    fetch = messages.module("FetchRequest")
    forgotten = [fetch.ForgottenTopic(topic_id=uuid.UUID(int=i + 1), partitions=[i, i + 1])
                 for i in range(4)]
    body = messages.FetchRequest(forgotten_topics_data=forgotten)
    for version in (13, 15, 17):
        wire = bytes(encode_body("FetchRequest", version, body))
        assert decode_body("FetchRequest", version, wire) == (body, len(wire))
