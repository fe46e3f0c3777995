"""The records of `__consumer_offsets`: group metadata and committed offsets, keyed for compaction.

Owns the on-disk format of the coordinator's state: msgpack-encoded msgspec Structs, one key per
group (`GroupKey`) and one per (group, topic, partition) (`OffsetKey`); a None value is a
tombstone. The last record of a key wins, so replay is a fold and compaction by key is safe.
Never holds behaviour: group.py builds and applies these.
"""

from __future__ import annotations

import msgspec


class OffsetKey(msgspec.Struct, array_like=True, frozen=True, tag="o"):
    group_id: str
    topic: str
    partition: int


class GroupKey(msgspec.Struct, array_like=True, frozen=True, tag="g"):
    group_id: str


RecordKey = OffsetKey | GroupKey


class Protocol(msgspec.Struct, array_like=True, frozen=True):
    """One (name, metadata) a member supports, in its order of preference."""

    name: str
    metadata: bytes


class CommittedOffset(msgspec.Struct, kw_only=True):
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp_ms: int = -1


class MemberValue(msgspec.Struct, kw_only=True):
    member_id: str
    group_instance_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocols: list[Protocol] = []
    assignment: bytes = b""


class GroupValue(msgspec.Struct, kw_only=True):
    """A group as of its last stable generation (or Empty)."""

    protocol_type: str | None = None
    protocol_name: str | None = None
    generation: int = 0
    leader: str | None = None
    members: list[MemberValue] = []


_encoder = msgspec.msgpack.Encoder()
_key_decoder = msgspec.msgpack.Decoder(RecordKey)
_offset_decoder = msgspec.msgpack.Decoder(CommittedOffset)
_group_decoder = msgspec.msgpack.Decoder(GroupValue)


def encode(key: RecordKey, value: CommittedOffset | GroupValue | None
           ) -> tuple[bytes, bytes | None]:
    """(key bytes, value bytes or None for a tombstone)."""
    return _encoder.encode(key), None if value is None else _encoder.encode(value)


def decode(key: bytes, value: bytes | None
           ) -> tuple[RecordKey, CommittedOffset | GroupValue | None]:
    """The inverse of encode; raises msgspec.DecodeError on a record it does not know."""
    decoded = _key_decoder.decode(key)
    if value is None:
        return decoded, None
    if isinstance(decoded, OffsetKey):
        return decoded, _offset_decoder.decode(value)
    return decoded, _group_decoder.decode(value)
