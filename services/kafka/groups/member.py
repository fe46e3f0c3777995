"""One member of a classic group, as the coordinator sees it while the member is alive.

Owns the member's identity, timeouts, supported protocols, assignment and the flags of its
parked requests. In memory only: records.MemberValue is what persists. No behaviour beyond
reading its own protocols.
"""

from __future__ import annotations

import msgspec

from .records import Protocol


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
