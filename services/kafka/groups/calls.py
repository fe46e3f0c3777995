"""Arguments and results of the coordinator's calls: what crosses from a Kafka handler on any
shard to the group's owner shard and back.

Owns plain msgspec Structs only (encoded across shards, decoded with the method's hints);
error fields hold Kafka codes (`panda.net.kafka.ErrorCode`, an int). Never imports the wire
codecs: the handlers in services/kafka/api/group_*.py translate to and from Kafka messages.
"""

from __future__ import annotations

import msgspec

from .consumer_offsets_records import Protocol

__all__ = [
    "CommitRequest", "CommitResult", "FetchOffsetsRequest", "FetchOffsetsResult",
    "GroupDescription", "HeartbeatRequest", "JoinMember", "JoinRequest", "JoinResult",
    "LeaveMember", "LeaveReply", "LeaveResult", "ListedGroupInfo", "MemberDescription",
    "OffsetDeleteReply", "OffsetEntry", "Parked", "PartitionError", "Protocol", "SyncRequest",
    "SyncResult", "TopicPartition",
]


class JoinRequest(msgspec.Struct, kw_only=True):
    group_id: str
    member_id: str = ""
    group_instance_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[Protocol]
    require_known_member_id: bool = True  # JoinGroup v4+ (KIP-394)
    supports_skip_assignment: bool = False  # JoinGroup v9+ (KIP-814)
    reason: str | None = None


class JoinMember(msgspec.Struct, array_like=True):
    member_id: str
    group_instance_id: str | None
    metadata: bytes


class JoinResult(msgspec.Struct, kw_only=True):
    error: int = 0
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    member_id: str = ""
    members: list[JoinMember] = []
    skip_assignment: bool = False


class SyncRequest(msgspec.Struct, kw_only=True):
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignments: dict[str, bytes] = {}


class SyncResult(msgspec.Struct, kw_only=True):
    error: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


class HeartbeatRequest(msgspec.Struct, kw_only=True):
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None


class LeaveMember(msgspec.Struct, array_like=True):
    member_id: str
    group_instance_id: str | None = None
    reason: str | None = None


class LeaveResult(msgspec.Struct, array_like=True):
    member_id: str
    group_instance_id: str | None
    error: int


class LeaveReply(msgspec.Struct):
    error: int = 0
    members: list[LeaveResult] = []


class TopicPartition(msgspec.Struct, array_like=True, frozen=True):
    topic: str
    partition: int


class OffsetEntry(msgspec.Struct, array_like=True):
    """A committed (or to-be-committed) offset; offset -1: none committed."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp_ms: int = -1


class CommitRequest(msgspec.Struct, kw_only=True):
    group_id: str
    generation_id: int = -1
    member_id: str = ""
    group_instance_id: str | None = None
    offsets: list[OffsetEntry] = []


class PartitionError(msgspec.Struct, array_like=True):
    topic: str
    partition: int
    error: int


class CommitResult(msgspec.Struct):
    partitions: list[PartitionError] = []


class FetchOffsetsRequest(msgspec.Struct, kw_only=True):
    group_id: str
    partitions: list[TopicPartition] | None = None  # None: every committed offset


class FetchOffsetsResult(msgspec.Struct):
    error: int = 0
    offsets: list[OffsetEntry] = []


class OffsetDeleteReply(msgspec.Struct):
    error: int = 0
    partitions: list[PartitionError] = []


class MemberDescription(msgspec.Struct, kw_only=True):
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


class GroupDescription(msgspec.Struct, kw_only=True):
    error: int = 0
    group_id: str
    state: str
    protocol_type: str
    protocol_data: str
    members: list[MemberDescription] = []


class ListedGroupInfo(msgspec.Struct, array_like=True):
    group_id: str
    protocol_type: str
    state: str


class Parked(msgspec.Struct, frozen=True):
    """The reply will come later, through the group's outbox, addressed to member_id."""

    member_id: str
