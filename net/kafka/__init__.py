"""Kafka wire protocol codecs: typed messages (msgspec Structs) generated from the Apache
Kafka message specs, per-version decoders and encoders, and the supported-version table.

Owns the public surface of panda.net.kafka; decode raises only ProtocolError, encode only
EncodeError. Record batches stay opaque here (see panda.storage.record_batch). Every Kafka
error code is an `ErrorCode`; message classes come from `messages`, never `_generated`.

    header, body, trailing = decode_request(frame)          # frame: bytes/memoryview
    out = encode_response(ResponseHeader(correlation_id=header.correlation_id), body,
                          header.request_api_key, header.request_api_version, frame=True)
"""

from panda.net.kafka import messages
from panda.net.kafka.codec import (
    decode_body,
    decode_request,
    decode_response,
    encode_body,
    encode_request,
    encode_response,
    peek_request,
)
from panda.net.kafka.error_codes import ErrorCode
from panda.net.kafka.errors import CodecError, EncodeError, ProtocolError
from panda.net.kafka.registry import (
    SUPPORTED_VERSIONS,
    MessageCodec,
    api_name,
    broker_api_versions,
    codec,
    is_flexible,
    request_codec,
    response_codec,
)


def __getattr__(name: str) -> type:
    """RequestHeader / ResponseHeader, loaded on first use like every generated type."""
    if name in ("RequestHeader", "ResponseHeader"):
        return getattr(messages, name)
    raise AttributeError(f"module 'panda.net.kafka' has no attribute {name!r}")

__all__ = [
    "SUPPORTED_VERSIONS",
    "CodecError",
    "EncodeError",
    "ErrorCode",
    "MessageCodec",
    "ProtocolError",
    "RequestHeader",
    "ResponseHeader",
    "api_name",
    "broker_api_versions",
    "codec",
    "decode_body",
    "decode_request",
    "decode_response",
    "encode_body",
    "encode_request",
    "encode_response",
    "is_flexible",
    "messages",
    "peek_request",
    "request_codec",
    "response_codec",
]
