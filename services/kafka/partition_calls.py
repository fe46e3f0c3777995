"""Arguments and results of the calls a Kafka handler makes to a partition's owning shard
(`PartitionManager.produce/fetch/list_offset/...`), and back.

Owns plain msgspec Structs only (array_like: they cross shards on every produce and fetch);
error fields hold Kafka codes (`panda.net.kafka.ErrorCode`, an int). No behaviour.
"""

from __future__ import annotations

import msgspec


class ProducePart(msgspec.Struct, array_like=True):
    topic: str
    partition: int
    records: bytes


class ProduceResult(msgspec.Struct, array_like=True):
    error_code: int = 0
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    error_message: str | None = None
    append_us: int = 0          # where the owner spent its time, for the slow-request log
    fsync_us: int = 0


class FetchPart(msgspec.Struct, array_like=True):
    topic: str
    partition: int
    offset: int
    max_bytes: int


class PartitionFetchResult(msgspec.Struct, array_like=True):
    """One partition's answer to a fetch (the Kafka FetchResponse is built from these)."""

    error_code: int = 0
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes = b""


class OffsetResult(msgspec.Struct, array_like=True):
    error_code: int = 0
    offset: int = -1
    timestamp: int = -1
    leader_epoch: int = -1
