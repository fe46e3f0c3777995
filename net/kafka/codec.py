"""Frame-level entry points of the Kafka codecs: request/response header plus body.

Owns header-version rules (request header v0-v2, response header v0-v1, ApiVersions
responses always on header v0) and the translation of every decode failure into
ProtocolError with api key, version and byte offset. Never copies a records payload on
decode; encodes into one bytearray sized up front.
"""

from __future__ import annotations

from struct import Struct
from struct import error as StructError
from typing import Any

from panda.net.kafka.errors import CodecError, EncodeError, ProtocolError
from panda.net.kafka.registry import MessageCodec, codec, request_codec, response_codec

__all__ = [
    "decode_body",
    "decode_request",
    "decode_response",
    "encode_body",
    "encode_request",
    "encode_response",
    "peek_request",
    "request_header_version",
    "response_header_version",
]

API_VERSIONS_KEY = 18
CONTROLLED_SHUTDOWN_KEY = 7
_S_hh = Struct(">hh")
_S_hhi = Struct(">hhi")
_S_i = Struct(">i")
_DECODE_FAULTS = (StructError, IndexError, ValueError, OverflowError)
_ENCODE_FAULTS = (StructError, IndexError, ValueError, OverflowError, TypeError, AttributeError)


def _header(request: bool) -> MessageCodec:
    """Header codec, loaded on first use (importing this package loads no generated code,
    so the generator still runs when the committed output is stale)."""
    return codec("RequestHeader" if request else "ResponseHeader")


def request_header_version(api_key: int, version: int, entry: MessageCodec) -> int:
    if entry.flexible_min is not None and version >= entry.flexible_min:
        return 2
    return 0 if (api_key == CONTROLLED_SHUTDOWN_KEY and version == 0) else 1


def response_header_version(api_key: int, version: int, entry: MessageCodec) -> int:
    if api_key == API_VERSIONS_KEY:
        return 0  # clients parse it before they know the broker's versions
    return 1 if entry.flexible_min is not None and version >= entry.flexible_min else 0


def _view(buf) -> memoryview:
    b = buf if type(buf) is memoryview else memoryview(buf)
    if b.ndim != 1 or b.itemsize != 1:
        b = b.cast("B")
    return b


def _views(buf) -> tuple[Any, memoryview]:
    """(b, m): b is read for fields (bytes when the caller passed bytes: faster slicing),
    m is the memoryview that records fields are sliced from without copying."""
    if type(buf) is bytes:
        return buf, memoryview(buf)
    m = _view(buf)
    return m, m


def peek_request(buf) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id) of a request frame, for answering
    requests whose version this codec cannot decode."""
    b = _view(buf)
    if len(b) < 8:
        raise ProtocolError("request header truncated", offset=len(b))
    return _S_hhi.unpack_from(b, 0)


def _check_version(entry: MessageCodec | None, api_key: int | None, version: int) -> MessageCodec:
    if entry is None:
        raise ProtocolError("unknown api key", api_key=api_key, version=version, offset=0)
    if not entry.min_version <= version <= entry.max_version:
        raise ProtocolError(f"unsupported version (supported {entry.min_version}-"
                            f"{entry.max_version})", api_key=api_key, version=version, offset=2)
    return entry


def _fault_offset(exc: BaseException) -> int | None:
    """Byte offset of a low-level decode fault: `pos` in the innermost decoding frame."""
    offset, tb = None, exc.__traceback__
    while tb is not None:
        pos = tb.tb_frame.f_locals.get("pos")
        if type(pos) is int:
            offset = pos
        tb = tb.tb_next
    return offset


def _decode_fault(exc: BaseException, api_key, version) -> ProtocolError:
    reason = "truncated input" if isinstance(exc, (StructError, IndexError)) else str(exc)
    return ProtocolError(reason, api_key=api_key, version=version, offset=_fault_offset(exc))


# (api_key << 16 | version) -> (header decoder, body decoder), filled on first use
_REQUEST_DECODERS: dict[int, tuple[Any, Any]] = {}


def _request_decoders(api_key: int, version: int) -> tuple[Any, Any]:
    entry = _check_version(request_codec(api_key), api_key, version)
    hv = request_header_version(api_key, version, entry)
    found = _REQUEST_DECODERS[api_key << 16 | version] = (
        _header(True).decoders[hv], entry.decoders[version])
    return found


def decode_request(buf) -> tuple[Any, Any, int]:
    """Decode one request frame (size prefix already stripped).

    Returns (RequestHeader, body, trailing) where trailing counts bytes after the last
    field of the body's schema (tolerated, as the Java broker does)."""
    b: Any
    if type(buf) is bytes:
        b, m = buf, memoryview(buf)
    else:
        b = m = _view(buf)
    if len(b) < 4:
        raise ProtocolError("request header truncated", offset=len(b))
    api_key, version = _S_hh.unpack_from(b, 0)
    decoders = _REQUEST_DECODERS.get(api_key << 16 | version) or \
        _request_decoders(api_key, version)
    try:
        header, pos = decoders[0](b, m, 0)
        body, pos = decoders[1](b, m, pos)
    except ProtocolError as exc:
        exc.locate(api_key, version)
        raise
    except _DECODE_FAULTS as exc:
        raise _decode_fault(exc, api_key, version) from None
    return header, body, len(b) - pos


def decode_response(buf, api_key: int, version: int) -> tuple[Any, Any, int]:
    """Decode one response frame for the request (api_key, version) it answers.
    Returns (ResponseHeader, body, trailing)."""
    b, m = _views(buf)
    entry = _check_version(response_codec(api_key), api_key, version)
    hv = response_header_version(api_key, version, entry)
    try:
        header, pos = _header(False).decoders[hv](b, m, 0)
        body, pos = entry.decoders[version](b, m, pos)
    except ProtocolError as exc:
        exc.locate(api_key, version)
        raise
    except _DECODE_FAULTS as exc:
        raise _decode_fault(exc, api_key, version) from None
    return header, body, len(b) - pos


def decode_body(name_or_codec: str | MessageCodec, version: int, buf, offset: int = 0):
    """Decode a bare message body (no header) by message name, e.g. ('MetadataResponse', 12).
    Returns (message, end_offset)."""
    entry = name_or_codec if isinstance(name_or_codec, MessageCodec) else codec(name_or_codec)
    if not entry.min_version <= version <= entry.max_version:
        _check_version(entry, entry.api_key, version)
    b: Any
    if type(buf) is bytes:
        b, m = buf, memoryview(buf)
    else:
        b = m = _view(buf)
    try:
        return entry.decoders[version](b, m, offset)
    except ProtocolError as exc:
        exc.locate(entry.api_key, version)
        raise
    except _DECODE_FAULTS as exc:
        raise _decode_fault(exc, entry.api_key, version) from None


def _encode_into(sizers: tuple, writers: tuple, objs: tuple, frame: bool, api_key,
                 version) -> bytearray:
    """Size every part, then fill one preallocated buffer; the budget over-counts length
    prefixes (and non-ASCII strings grow the buffer in place), so trim to what was
    written."""
    try:
        prefix = 4 if frame else 0
        total = prefix
        for sizer, obj in zip(sizers, objs):
            total += sizer(obj)
        buf = bytearray(total)
        pos = prefix
        for writer, obj in zip(writers, objs):
            pos = writer(obj, buf, pos)
        if frame:
            _S_i.pack_into(buf, 0, pos - 4)
    except CodecError as exc:
        exc.locate(api_key, version)
        raise
    except _ENCODE_FAULTS as exc:
        raise EncodeError(f"cannot encode: {exc}", api_key=api_key, version=version) from None
    if pos > len(buf):  # the size pass budgets at least what the writers need
        raise EncodeError(f"wrote {pos} bytes into a {len(buf)} byte buffer (a value of the "
                          "wrong type?)", api_key=api_key, version=version)
    del buf[pos:]
    return buf


# (api_key << 16 | version) -> ((header sizer, body sizer), (header writer, body writer))
_RESPONSE_ENCODERS: dict[int, tuple[tuple, tuple]] = {}
_REQUEST_ENCODERS: dict[int, tuple[tuple, tuple]] = {}


def _encoders(table: dict, api_key: int, version: int, request: bool) -> tuple[tuple, tuple]:
    found = table.get(api_key << 16 | version)
    if found is None:
        entry = _check_encode((request_codec if request else response_codec)(api_key),
                              api_key, version)
        if request:
            header, hv = _header(True), request_header_version(api_key, version, entry)
        else:
            header, hv = _header(False), response_header_version(api_key, version, entry)
        found = table[api_key << 16 | version] = (
            (header.sizers[hv], entry.sizers[version]),
            (header.writers[hv], entry.writers[version]))
    return found


def encode_request(header, body, *, frame: bool = False) -> bytearray:
    """Encode header + body at header.request_api_version; frame=True prepends the
    4-byte size."""
    api_key, version = header.request_api_key, header.request_api_version
    sizers, writers = _encoders(_REQUEST_ENCODERS, api_key, version, True)
    return _encode_into(sizers, writers, (header, body), frame, api_key, version)


def encode_response(header, body, api_key: int, version: int, *, frame: bool = False) -> bytearray:
    """Encode a response to the request (api_key, version); frame=True prepends the size."""
    sizers, writers = _encoders(_RESPONSE_ENCODERS, api_key, version, False)
    return _encode_into(sizers, writers, (header, body), frame, api_key, version)


def encode_body(name_or_codec: str | MessageCodec, version: int, body) -> bytearray:
    """Encode a bare message body (no header) by message name."""
    entry = name_or_codec if isinstance(name_or_codec, MessageCodec) else codec(name_or_codec)
    if not entry.min_version <= version <= entry.max_version:
        _check_encode(None, entry.api_key, version)
    return _encode_into((entry.sizers[version],), (entry.writers[version],), (body,), False,
                        entry.api_key, version)


def _check_encode(entry, api_key, version) -> MessageCodec:
    if entry is None or not entry.min_version <= version <= entry.max_version:
        raise EncodeError("unknown api key or unsupported version", api_key=api_key,
                          version=version)
    return entry
