"""One member of a classic group, as the coordinator sees it while the member is alive.

Owns the member's identity, timeouts, supported protocols, assignment and the flags of its
parked requests. In memory only: consumer_offsets_records.MemberValue is what persists. No
behaviour beyond reading its own protocols.
"""

from __future__ import annotations

import msgspec

from .calls import MemberDescription
from .consumer_offsets_records import MemberValue, Protocol


class Member(msgspec.Struct, kw_only=True):
    """A member as the coordinator sees it (in memory only; MemberValue is what persists)."""

    member_id: str
    group_instance_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocols: list[Protocol] = []
    assignment: bytes = b""
    awaiting_join: bool = False
    awaiting_sync: bool = False
    is_new: bool = False
    last_heartbeat_ms: int = 0

    def metadata(self, protocol: str | None) -> bytes:
        for p in self.protocols:
            if p.name == protocol:
                return p.metadata
        return b""

    def names(self) -> list[str]:
        return [p.name for p in self.protocols]

    def describe(self, protocol: str | None) -> MemberDescription:
        """DescribeGroups' view; metadata and assignment only under a chosen protocol."""
        return MemberDescription(
            member_id=self.member_id, group_instance_id=self.group_instance_id,
            client_id=self.client_id, client_host=self.client_host,
            metadata=self.metadata(protocol) if protocol else b"",
            assignment=self.assignment if protocol else b"")

    def to_value(self) -> MemberValue:
        return MemberValue(member_id=self.member_id, group_instance_id=self.group_instance_id,
                           client_id=self.client_id, client_host=self.client_host,
                           session_timeout_ms=self.session_timeout_ms,
                           rebalance_timeout_ms=self.rebalance_timeout_ms,
                           protocols=list(self.protocols), assignment=self.assignment)

    @classmethod
    def from_value(cls, v: MemberValue, now_ms: int) -> Member:
        """A recovered member, its session restarting at now_ms."""
        return cls(member_id=v.member_id, group_instance_id=v.group_instance_id,
                   client_id=v.client_id, client_host=v.client_host,
                   session_timeout_ms=v.session_timeout_ms,
                   rebalance_timeout_ms=v.rebalance_timeout_ms, protocols=list(v.protocols),
                   assignment=v.assignment, last_heartbeat_ms=now_ms)
