"""ApiVersions: the versions this broker serves, from the handler table."""

from __future__ import annotations

import struct

from panda.net.kafka import ResponseHeader, encode_response
from panda.net.kafka._generated.api_versions_response import ApiVersion, ApiVersionsResponse

from ..errors import code
from ..handlers import VERSIONS, handler

_HEADER = struct.Struct(">hhi")


def _versions() -> list[ApiVersion]:
    return [ApiVersion(api_key=k, min_version=lo, max_version=hi)
            for k, (lo, hi) in sorted(VERSIONS.items())]


@handler(18)
async def api_versions(ctx, header, body) -> ApiVersionsResponse:
    return ApiVersionsResponse(error_code=0, api_keys=_versions())


def unsupported_version_response(frame: bytes | bytearray) -> bytes:
    """A v0 ApiVersions response with UNSUPPORTED_VERSION for a request we cannot parse."""
    _key, _version, correlation_id = _HEADER.unpack_from(frame, 0)
    body = ApiVersionsResponse(error_code=code("UNSUPPORTED_VERSION"), api_keys=_versions())
    return bytes(encode_response(ResponseHeader(correlation_id=correlation_id), body, 18, 0,
                                 frame=True))
