"""What one consumer group allows for its committed offsets: OffsetCommit and OffsetDelete
checks, and which offsets have outlived their retention.

Owns decisions only, as part of Group (a base class: these rules read the group's
membership state); the offsets themselves are in offset_table.OffsetTable, installed by
group_manager.py once durable. Synchronous and pure like the rest of the Group: time comes in
as arguments.
"""

from __future__ import annotations

from panda.net.kafka import ErrorCode

from .calls import CommitRequest, OffsetEntry, PartitionError, TopicPartition
from .config import GroupConfig
from .consumer_protocol import subscription_topics
from .group_state import COMPLETING, DEAD, EMPTY, GroupState
from .member import Member
from .offset_table import OffsetTable


class OffsetRules:
    """The offset rules of a Group; the attributes below are the Group's."""

    state: GroupState
    generation: int
    protocol_type: str | None
    protocol_name: str | None
    members: dict[str, Member]
    static_members: dict[str, str]
    pending_members: dict[str, int]
    offsets: OffsetTable
    config: GroupConfig

    def commit_error(self, req: CommitRequest, now_ms: int) -> ErrorCode:
        """Whether an OffsetCommit may proceed (a member's commit counts as a heartbeat)."""
        if self.state is DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        instance = req.group_instance_id
        if instance is not None and (
                self.static_members.get(instance, req.member_id) != req.member_id):
            return ErrorCode.FENCED_INSTANCE_ID
        if req.generation_id < 0 and self.state is EMPTY:
            return ErrorCode.NONE  # the group only stores offsets (a standalone consumer, tooling)
        if self.state is COMPLETING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        if req.member_id not in self.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if req.generation_id != self.generation:
            return ErrorCode.ILLEGAL_GENERATION
        self.members[req.member_id].last_heartbeat_ms = now_ms
        return ErrorCode.NONE

    def offset_error(self, entry: OffsetEntry) -> ErrorCode:
        if len(entry.metadata.encode()) > self.config.offset_metadata_bytes_max:
            return ErrorCode.OFFSET_METADATA_TOO_LARGE
        return ErrorCode.NONE

    def offset_delete_errors(self, partitions: list[TopicPartition],
                             ) -> tuple[ErrorCode, list[PartitionError]]:
        """OffsetDelete: which partitions may lose their committed offset."""
        if self.state is DEAD:
            return ErrorCode.GROUP_ID_NOT_FOUND, []
        subscribed: set[str] = set()
        if self.state is not EMPTY:
            if self.protocol_type != "consumer":
                return ErrorCode.NON_EMPTY_GROUP, []
            subscribed = self.subscribed_topics()
        return ErrorCode.NONE, [
            PartitionError(tp.topic, tp.partition, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                           if tp.topic in subscribed else ErrorCode.NONE)
            for tp in partitions]

    def subscribed_topics(self) -> set[str]:
        """Topics the members subscribe to (consumer protocol metadata)."""
        topics: set[str] = set()
        for m in self.members.values():
            topics |= subscription_topics(m.metadata(self.protocol_name))
        return topics

    # --- retention -------------------------------------------------------------------------

    def expired_offsets(self, wall_ms: int) -> list[tuple[str, int]]:
        """Offsets of an Empty group committed more than offsets_retention_ms ago (a live
        group keeps its offsets)."""
        if self.state is not EMPTY:
            return []
        horizon = wall_ms - self.config.offsets_retention_ms
        return [key for key, c in self.offsets.items() if c.commit_timestamp_ms < horizon]

    def is_forgettable(self) -> bool:
        """Nothing left worth keeping: an Empty group without offsets or pending members."""
        return self.state is EMPTY and not self.offsets and not self.pending_members
