"""Every Kafka API this broker serves, in one table: api key -> (handler, min, max version).

The server dispatches from `API_HANDLERS` and ApiVersions advertises the same table, so the
two can never disagree; that is why ApiVersions is answered here. A handler module only
defines handlers: nothing registers itself on import, and adding an API is one line below.
Versions are the codec's, narrowed where a handler serves fewer (`min_version=`).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from panda.net.kafka import SUPPORTED_VERSIONS, ErrorCode, ResponseHeader, encode_response
from panda.net.kafka.messages import ApiVersion, ApiVersionsResponse

from . import (
    configs,
    fetch,
    group_admin,
    group_membership,
    group_offsets,
    list_offsets,
    metadata,
    partition_logs,
    produce,
    producer_ids,
    topics,
)
from .context import Handler

API_VERSIONS_KEY = 18
_HEADER = struct.Struct(">hhi")


class ApiEntry(NamedTuple):
    handler: Handler
    min_version: int
    max_version: int


def _entry(api_key: int, handler: Handler, min_version: int | None = None,
           max_version: int | None = None) -> tuple[int, ApiEntry]:
    """The handler of api_key for the versions both it and the codec serve."""
    codec_min, codec_max = SUPPORTED_VERSIONS[api_key]
    return api_key, ApiEntry(handler, max(codec_min, min_version or codec_min),
                             min(codec_max, codec_max if max_version is None else max_version))


async def api_versions(ctx, header, body) -> ApiVersionsResponse:
    return ApiVersionsResponse(error_code=0, api_keys=_versions())


API_HANDLERS: dict[int, ApiEntry] = dict([
    _entry(0, produce.produce, min_version=3),
    _entry(1, fetch.fetch, min_version=4),
    _entry(2, list_offsets.list_offsets, min_version=1),
    _entry(3, metadata.metadata),
    _entry(8, group_offsets.offset_commit),
    _entry(9, group_offsets.offset_fetch),
    _entry(10, group_membership.find_coordinator),
    _entry(11, group_membership.join_group),
    _entry(12, group_membership.heartbeat),
    _entry(13, group_membership.leave_group),
    _entry(14, group_membership.sync_group),
    _entry(15, group_admin.describe_groups),
    _entry(16, group_admin.list_groups),
    _entry(API_VERSIONS_KEY, api_versions),
    _entry(19, topics.create_topics, min_version=1),
    _entry(20, topics.delete_topics, min_version=1),
    _entry(21, partition_logs.delete_records),
    _entry(22, producer_ids.init_producer_id),
    _entry(23, partition_logs.offset_for_leader_epoch),
    _entry(32, configs.describe_configs),
    _entry(33, configs.alter_configs),
    _entry(35, partition_logs.describe_log_dirs),
    _entry(37, topics.create_partitions),
    _entry(42, group_admin.delete_groups),
    _entry(44, configs.incremental_alter_configs),
    _entry(47, group_offsets.offset_delete),
    _entry(60, metadata.describe_cluster),
])


def _versions() -> list[ApiVersion]:
    return [ApiVersion(api_key=key, min_version=entry.min_version, max_version=entry.max_version)
            for key, entry in sorted(API_HANDLERS.items())]


def unsupported_version_response(frame: bytes | bytearray) -> bytes:
    """ApiVersions at a version we cannot parse or do not serve: answer v0 with
    UNSUPPORTED_VERSION and our versions, as Kafka does, so the client retries at one we
    support."""
    _key, _version, correlation_id = _HEADER.unpack_from(frame, 0)
    body = ApiVersionsResponse(error_code=ErrorCode.UNSUPPORTED_VERSION, api_keys=_versions())
    return bytes(encode_response(ResponseHeader(correlation_id=correlation_id), body,
                                 API_VERSIONS_KEY, 0, frame=True))
