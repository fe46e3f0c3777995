"""The broker's config section: `kafka:` in the node config, `--kafka-*` flags,
`PANDA_KAFKA_*` env. KafkaServer and PartitionManager both read it (one Struct, one section).

Owns the broker's defaults and limits (units last); it never reads a file or the environment:
the runtime composes it into the node config and hands it to each service as `self.config`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MiB = 1 << 20


class KafkaConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The Kafka listener, topic creation, request limits and the partition logs' flushes."""

    addr: Annotated[str, msgspec.Meta(
        description="host:port the Kafka API listens on (every shard, SO_REUSEPORT)",
    )] = "127.0.0.1:9092"
    advertised_addr: Annotated[str | None, msgspec.Meta(
        description="host:port clients are told to connect to; default: addr",
        extra={"flag_aliases": ["--advertised-kafka-addr"]},
    )] = None
    request_bytes_max: Annotated[int, msgspec.Meta(
        ge=1, description="largest Kafka request accepted; larger closes the connection",
    )] = 100 * MiB
    auto_create_topics_enabled: Annotated[bool, msgspec.Meta(
        description="create unknown topics on metadata or produce requests",
    )] = True
    default_topic_partitions: Annotated[int, msgspec.Meta(
        ge=1, description="partitions of a topic created without a count",
        extra={"unit": "partitions"},
    )] = 1
    flush_debounce_us: Annotated[int, msgspec.Meta(
        ge=0, le=1_000_000,
        description="wait this long after the first durable append so one fsync covers more",
    )] = 0
    slow_request_ms: Annotated[int, msgspec.Meta(
        ge=1, description="log a line for any Kafka request slower than this, with where time went",
    )] = 1000
