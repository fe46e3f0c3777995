"""Limits every consumer group obeys: Kafka's group.* and offset.* broker settings.

Owns defaults and units (last in each name); never read from files here: the coordinator
builds one GroupConfig per shard and hands it to every Group.
"""

from __future__ import annotations

import msgspec


class GroupConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Limits of every group (Kafka's group.* broker settings), units last."""

    session_timeout_ms_min: int = 1_000  # group.min.session.timeout.ms (Kafka: 6000)
    session_timeout_ms_max: int = 1_800_000  # group.max.session.timeout.ms
    initial_rebalance_delay_ms: int = 0  # group.initial.rebalance.delay.ms (Kafka: 3000)
    new_member_join_timeout_ms: int = 300_000  # a new member that never rejoins is dropped
    members_max: int = 1_000  # group.max.size
    offset_metadata_bytes_max: int = 4_096  # offset.metadata.max.bytes
    offsets_retention_ms: int = 7 * 24 * 3_600_000  # offsets.retention.minutes, Empty groups
    offsets_retention_check_ms: int = 600_000  # offsets.retention.check.interval.ms
