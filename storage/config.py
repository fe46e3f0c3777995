"""Typed settings of the storage layer: one StorageConfig per shard, one TopicConfig per topic.

Owns defaults, units and bounds; every field has a unit last in its name and a line of
documentation. Never reads files or the environment: the service that owns the logs (the
broker's partition manager) builds these from its config and passes them in.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]


class TopicConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-topic log settings (Kafka names: retention.ms, segment.bytes, cleanup.policy...)."""

    retention_ms: int = 7 * 24 * 3600 * 1000  # delete closed segments older than this; -1: never
    retention_bytes: int = -1  # keep at most this many bytes per partition (closed segments); -1
    segment_bytes: Annotated[int, msgspec.Meta(ge=4 * KiB)] = 128 * MiB  # roll past this size
    segment_ms: PositiveInt = 7 * 24 * 3600 * 1000  # roll a segment older than this
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = "delete"
    delete_retention_ms: NonNegativeInt = 24 * 3600 * 1000  # keep tombstones this long (compact)

    @property
    def compacted(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def deletes(self) -> bool:
        return "delete" in self.cleanup_policy


class StorageConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-shard storage settings."""

    data_dir: str = "./data"  # one subdirectory per partition: <topic>-<partition>
    flush_debounce_us: NonNegativeInt = 0  # wait this long after the first durable append
    flush_interval_ms: PositiveInt = 100  # non-durable appends reach the disk within this
    flush_trigger_bytes: Annotated[int, msgspec.Meta(ge=4 * KiB)] = 4 * MiB  # unwritten: write now
    direct_io: bool = True  # O_DIRECT writes from aligned buffers (faster on the measured disk)
    write_buffer_bytes_min: Annotated[int, msgspec.Meta(ge=4 * KiB)] = 256 * KiB  # per segment
    pending_bytes_max: Annotated[int, msgspec.Meta(ge=64 * KiB)] = 8 * MiB  # unwritten per log
    write_buffers_pooled_max: NonNegativeInt = 4  # write buffers of closed segments kept
    fallocate_bytes: Annotated[int, msgspec.Meta(ge=0)] = 32 * MiB  # preallocation chunk; 0: off
    index_interval_bytes: PositiveInt = 4 * KiB  # one offset/time index entry per this many bytes
    index_checkpoint_bytes: PositiveInt = 64 * MiB  # active index persisted every this many bytes
    batch_cache_bytes_max: NonNegativeInt = 64 * MiB  # recent batches kept in memory (LRU)
    batch_bytes_max: PositiveInt = 16 * MiB  # largest batch an append accepts
    read_bytes_max: PositiveInt = 64 * MiB  # largest single read from a segment file
    housekeeping_interval_ms: PositiveInt = 10_000  # retention / compaction pass period
    housekeeping_bytes_per_s: PositiveInt = 64 * MiB  # I/O budget of compaction, per shard
    compaction_keys_max: PositiveInt = 4_000_000  # keys one compaction pass may hold in memory
    default_topic: TopicConfig = TopicConfig()


DESCRIPTIONS = {
    "data_dir": "directory holding one subdirectory per partition log",
    "flush_debounce_us": "wait after the first durable append so one fdatasync covers more",
    "flush_interval_ms": "non-durable appends are written and synced within this many ms",
    "flush_trigger_bytes": "unwritten bytes that start a flush at once, queued behind a "
                           "running one",
    "direct_io": "write segments with O_DIRECT from aligned buffers (else buffered writes)",
    "write_buffer_bytes_min": "initial size of a segment's two aligned write buffers (they grow)",
    "pending_bytes_max": "appended-but-unwritten bytes per partition before appends wait",
    "write_buffers_pooled_max": "aligned write buffers kept for reuse after segments close",
    "fallocate_bytes": "segment files grow by fallocate in chunks of this many bytes (0: off)",
    "index_interval_bytes": "bytes of batches between two sparse index entries",
    "index_checkpoint_bytes": "synced bytes between checkpoints of the active segment's index",
    "batch_cache_bytes_max": "memory for recently appended/read batches (LRU), per shard",
    "batch_bytes_max": "largest record batch an append accepts",
    "read_bytes_max": "largest read from a segment file in one call",
    "housekeeping_interval_ms": "period of the retention and compaction pass",
    "housekeeping_bytes_per_s": "disk bytes per second compaction may read plus write",
    "compaction_keys_max": "distinct keys one compaction pass may track",
    "default_topic": "topic settings for partitions opened without their own",
}
