"""Topic configuration by Kafka's names: defaults, validation, and the storage settings
they turn into. Values travel as strings, as on the wire."""

from __future__ import annotations

from panda.storage.config import StorageConfig, TopicConfig

DEFAULTS: dict[str, str] = {
    "cleanup.policy": "delete",
    "retention.ms": str(7 * 24 * 3600 * 1000),
    "retention.bytes": "-1",
    "segment.bytes": str(128 * 1024 * 1024),
    "segment.ms": str(7 * 24 * 3600 * 1000),
    "delete.retention.ms": str(24 * 3600 * 1000),
    "max.message.bytes": "1048588",
    "message.timestamp.type": "CreateTime",
    "min.insync.replicas": "1",
    "compression.type": "producer",
}
DOCS: dict[str, str] = {
    "cleanup.policy": "delete, compact, or compact,delete",
    "retention.ms": "delete closed segments older than this (ms); -1 keeps them",
    "retention.bytes": "keep at most this many bytes per partition; -1 keeps all",
    "segment.bytes": "roll to a new segment past this size (bytes)",
    "segment.ms": "roll to a new segment after this long (ms)",
    "delete.retention.ms": "keep compaction tombstones this long (ms)",
    "max.message.bytes": "largest record batch accepted (bytes)",
    "message.timestamp.type": "CreateTime (the producer's) or LogAppendTime (the broker's)",
    "min.insync.replicas": "replicas that must acknowledge acks=all writes",
    "compression.type": "producer keeps the producer's compression",
}
_INTS = {"retention.ms", "retention.bytes", "segment.bytes", "segment.ms", "delete.retention.ms",
         "max.message.bytes", "min.insync.replicas"}
_CHOICES = {
    "cleanup.policy": {"delete", "compact", "compact,delete", "delete,compact"},
    "message.timestamp.type": {"CreateTime", "LogAppendTime"},
    "compression.type": {"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"},
}
_MINIMUM = {"segment.bytes": 4096, "segment.ms": 1, "max.message.bytes": 1,
            "min.insync.replicas": 1, "delete.retention.ms": 0}
# A batch must fit the storage's batch_bytes_max and a cross-shard message, whichever shard
# the producer's connection landed on.
_MAXIMUM = {"max.message.bytes": StorageConfig().batch_bytes_max}


def invalid(name: str, value: str | None) -> str | None:
    """Why (name, value) is not a valid topic config, or None."""
    if name not in DEFAULTS:
        return f"unknown topic config {name!r}"
    if value is None:
        return None
    if name in _INTS:
        try:
            number = int(value)
        except ValueError:
            return f"{name} must be an integer, not {value!r}"
        if number < _MINIMUM.get(name, -1):
            return f"{name} must be at least {_MINIMUM.get(name, -1)}, not {number}"
        if name in _MAXIMUM and number > _MAXIMUM[name]:
            return f"{name} must be at most {_MAXIMUM[name]}, not {number}"
    elif value not in _CHOICES[name]:
        return f"{name} must be one of {sorted(_CHOICES[name])}, not {value!r}"
    return None


def effective(configs: dict[str, str]) -> dict[str, str]:
    return {**DEFAULTS, **configs}


def storage_config(configs: dict[str, str]) -> TopicConfig:
    c = effective(configs)
    policy = "compact,delete" if c["cleanup.policy"] == "delete,compact" else c["cleanup.policy"]
    return TopicConfig(retention_ms=int(c["retention.ms"]),
                       retention_bytes=int(c["retention.bytes"]),
                       segment_bytes=int(c["segment.bytes"]), segment_ms=int(c["segment.ms"]),
                       cleanup_policy=policy,  # type: ignore[arg-type]
                       delete_retention_ms=int(c["delete.retention.ms"]))
