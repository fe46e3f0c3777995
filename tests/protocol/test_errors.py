"""Typed errors: ProtocolError carries api key, version and byte offset for truncated
input, bad lengths, bad varints, unknown api keys and versions; EncodeError for values a
version cannot carry. Lengths are bounded by the buffer before anything is allocated."""

from __future__ import annotations

import pickle
import struct

import pytest

from panda.net.kafka import (
    EncodeError,
    ProtocolError,
    RequestHeader,
    decode_body,
    decode_request,
    encode_body,
    encode_request,
    messages,
)


def _frame(api_key: int, version: int, body: bytes, client_id: bytes = b"c") -> bytes:
    header = struct.pack(">hhih", api_key, version, 7, len(client_id)) + client_id
    flexible_tags = b"\x00" if (api_key, version) in {(3, 12), (18, 3)} else b""
    return header + flexible_tags + body


def test_unknown_api_key() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_request(_frame(999, 0, b""))
    assert (err.value.api_key, err.value.version, err.value.offset) == (999, 0, 0)
    assert "unknown api key" in str(err.value)


def test_unsupported_version() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_request(_frame(3, 99, b""))
    assert (err.value.api_key, err.value.version) == (3, 99)


def test_truncated_header() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_request(b"\x00\x03")
    assert err.value.offset == 2


def test_truncated_body_reports_offset() -> None:
    frame = _frame(3, 1, b"\x00\x00\x00\x01\x00\x05ab")  # topic name says 5 bytes, has 2
    with pytest.raises(ProtocolError) as err:
        decode_request(frame)
    assert (err.value.api_key, err.value.version) == (3, 1)
    assert err.value.offset == len(frame) - 2  # where the 5 promised bytes start


def test_oversized_array_count_is_rejected_before_allocating() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_request(_frame(3, 1, b"\x7f\xff\xff\xff"))
    assert "out of bounds" in err.value.reason


def test_negative_length_for_non_nullable_string() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_request(_frame(3, 1, b"\x00\x00\x00\x01\xff\xff"))
    assert "null" in err.value.reason


def test_overlong_varint() -> None:
    body = b"\xff\xff\xff\xff\xff\xff\x01"  # compact array count: 7 varint bytes
    with pytest.raises(ProtocolError) as err:
        decode_request(_frame(3, 12, body))
    assert "varint" in err.value.reason


def test_invalid_utf8() -> None:
    with pytest.raises(ProtocolError):
        decode_request(_frame(3, 1, b"\x00\x00\x00\x01\x00\x02\xff\xfe"))


def test_oversized_tagged_field_size() -> None:
    # header tagged section: one tag (0) claiming 100 bytes
    frame = struct.pack(">hhih", 3, 12, 7, 1) + b"c" + b"\x01\x00\x64"
    with pytest.raises(ProtocolError) as err:
        decode_request(frame)
    assert err.value.api_key == 3


def test_protocol_error_pickles_with_its_coordinates() -> None:
    exc = ProtocolError("x", api_key=1, version=2, offset=3)
    back = pickle.loads(pickle.dumps(exc))
    assert (back.reason, back.api_key, back.version, back.offset) == ("x", 1, 2, 3)


def test_encode_rejects_out_of_range_integer() -> None:
    body = messages.ApiVersionsRequest()
    header = RequestHeader(request_api_key=18, request_api_version=0, correlation_id=2**40)
    with pytest.raises(EncodeError) as err:
        encode_request(header, body)
    assert (err.value.api_key, err.value.version) == (18, 0)


def test_encode_rejects_none_where_not_nullable() -> None:
    mod = messages.module("MetadataRequest")
    body = messages.MetadataRequest(topics=[mod.MetadataRequestTopic(name=None)])
    with pytest.raises(EncodeError):
        encode_body("MetadataRequest", 9, body)  # name nullable only from v10
    assert encode_body("MetadataRequest", 10, body)


def test_decode_body_bounds() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_body("MetadataRequest", 1, b"\x00\x00")
    assert err.value.offset is not None
