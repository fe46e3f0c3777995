"""One consumer group under the classic rebalance protocol (JoinGroup/SyncGroup/Heartbeat).

Owns the group's members, generation, selected protocol, static members and committed
offsets (what commits and deletes are allowed: offset_rules.py). Deterministic and
synchronous: every input carries `now_ms`, answers are return values, and replies to requests
parked earlier (JoinGroup/SyncGroup long polls) are queued in `outbox`. It never reads a
clock, never awaits and never does I/O; persistence is the caller's job, flagged by `dirty`
(metadata) and done before replies leave.

    Empty --join--> PreparingRebalance --all joined / rebalance timeout--> CompletingRebalance
      ^                   ^      |                                              |
      |                   |      +--(no members left)--> Empty                  | leader's
      |                   +------ join / leave / session timeout ---------------+ SyncGroup
      +---- last member gone ---- Stable <--------------------------------------+
    any --DeleteGroups--> Dead
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

import msgspec

from panda.net.kafka import ErrorCode

from .calls import (
    GroupDescription,
    HeartbeatRequest,
    JoinMember,
    JoinRequest,
    JoinResult,
    LeaveMember,
    LeaveResult,
    Parked,
    SyncRequest,
    SyncResult,
)
from .config import GroupConfig
from .consumer_offsets_records import GroupValue
from .group_state import COMPLETING, DEAD, EMPTY, PREPARING, STABLE, GroupState
from .member import Member
from .offset_rules import OffsetRules
from .offset_table import OffsetTable

__all__ = ["COMPLETING", "DEAD", "EMPTY", "PREPARING", "STABLE", "Delivery", "Group",
           "GroupConfig", "GroupState"]


class Delivery(msgspec.Struct, frozen=True):
    """A reply to a parked request: kind 'join' or 'sync', for member_id."""

    kind: str
    member_id: str
    result: JoinResult | SyncResult


def _random_id() -> str:
    return str(uuid.uuid4())


class Group(OffsetRules):
    """The state machine of one group. Create it on first use (Empty, generation 0); the
    rules of its committed offsets are OffsetRules'."""

    def __init__(self, group_id: str, config: GroupConfig | None = None,
                 new_id: Callable[[], str] = _random_id) -> None:
        self.group_id = group_id
        self.config = config or GroupConfig()
        self._new_id = new_id
        self.state = EMPTY
        self.generation = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader: str | None = None
        self.members: dict[str, Member] = {}
        self.static_members: dict[str, str] = {}  # group.instance.id -> member id
        self.pending_members: dict[str, int] = {}  # KIP-394 member ids -> expiry (ms)
        self.pending_sync: set[str] = set()  # members that have not synced this generation
        self.offsets = OffsetTable()
        self.rebalance_deadline_ms = 0
        self.join_delay_deadline_ms = 0
        self.sync_deadline_ms = 0
        self.outbox: list[Delivery] = []
        self.dirty = False
        self.rebalances = 0
        self.expired_members = 0

    # --- queries -------------------------------------------------------------------------

    def is_empty(self) -> bool:
        return not self.members and not self.pending_members

    def take_counts(self) -> tuple[int, int]:
        """(rebalances, expired members) since the last call, for the probe."""
        counts = (self.rebalances, self.expired_members)
        self.rebalances = self.expired_members = 0
        return counts

    def take_outbox(self) -> list[Delivery]:
        out, self.outbox = self.outbox, []
        return out

    def next_deadline_ms(self) -> int | None:
        """The earliest time tick() has something to do, or None."""
        deadlines = list(self.pending_members.values())
        for m in self.members.values():
            if m.awaiting_join:
                if m.is_new:
                    deadlines.append(m.last_heartbeat_ms + self.config.new_member_join_timeout_ms)
            elif not m.awaiting_sync:
                deadlines.append(m.last_heartbeat_ms + m.session_timeout_ms)
        if self.state is PREPARING:
            deadlines.append(self.rebalance_deadline_ms)
            if self.join_delay_deadline_ms:
                deadlines.append(self.join_delay_deadline_ms)
        if self.pending_sync and self.state in (COMPLETING, STABLE):
            deadlines.append(self.sync_deadline_ms)
        return min(deadlines) if deadlines else None

    # --- JoinGroup -----------------------------------------------------------------------

    def join(self, req: JoinRequest, now_ms: int) -> JoinResult | Parked:
        """JoinGroup: an answer now, or Parked (the answer comes through the outbox)."""
        error = self._join_error(req)
        if error:
            return JoinResult(error=error, member_id=req.member_id)
        if not req.member_id:
            return self._join_new(req, now_ms)
        return self._join_known(req, now_ms)

    def _join_error(self, req: JoinRequest) -> ErrorCode:
        c = self.config
        if not c.session_timeout_ms_min <= req.session_timeout_ms <= c.session_timeout_ms_max:
            return ErrorCode.INVALID_SESSION_TIMEOUT
        if self.state is DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if not self._supports(req.protocol_type, [p.name for p in req.protocols]):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        return ErrorCode.NONE

    def _supports(self, protocol_type: str, names: list[str]) -> bool:
        if not protocol_type or not names:
            return False
        if not self.members:
            return True
        return protocol_type == self.protocol_type and bool(self._candidates() & set(names))

    def _candidates(self, members: Iterable[Member] | None = None) -> set[str]:
        found: set[str] | None = None
        for m in self.members.values() if members is None else members:
            found = set(m.names()) if found is None else found & set(m.names())
        return found or set()

    def _join_new(self, req: JoinRequest, now_ms: int) -> JoinResult | Parked:
        member_id = f"{req.group_instance_id or req.client_id}-{self._new_id()}"
        known = self.static_members.get(req.group_instance_id or "")
        if req.group_instance_id is not None and known is not None:
            return self._replace_static(known, member_id, req, now_ms)  # takes its own place
        if len(self.members) + len(self.pending_members) >= self.config.members_max:
            return JoinResult(error=ErrorCode.GROUP_MAX_SIZE_REACHED)
        if req.group_instance_id is None and req.require_known_member_id:
            self.pending_members[member_id] = now_ms + req.session_timeout_ms
            return JoinResult(error=ErrorCode.MEMBER_ID_REQUIRED, member_id=member_id)
        return self._add_member(member_id, req, now_ms)

    def _join_known(self, req: JoinRequest, now_ms: int) -> JoinResult | Parked:
        member_id = req.member_id
        if member_id in self.pending_members:
            del self.pending_members[member_id]
            return self._add_member(member_id, req, now_ms)
        error = self._member_error(member_id, req.group_instance_id)
        if error:
            return JoinResult(error=error, member_id=member_id)
        member = self.members[member_id]
        unchanged = member.protocols == req.protocols
        if self.state is COMPLETING and unchanged:
            return self._join_result(member)  # a resend: the response was lost
        if self.state is STABLE and unchanged and member_id != self.leader:
            return self._join_result(member)  # nothing to rebalance for
        self._update_member(member, req, now_ms)
        member.awaiting_join = True
        self._rebalance(now_ms)
        return Parked(member_id)

    def _add_member(self, member_id: str, req: JoinRequest, now_ms: int) -> Parked:
        member = Member(member_id=member_id, group_instance_id=req.group_instance_id,
                        session_timeout_ms=req.session_timeout_ms,
                        rebalance_timeout_ms=req.rebalance_timeout_ms, is_new=True)
        self._update_member(member, req, now_ms)
        member.awaiting_join = True
        self.members[member_id] = member
        if req.group_instance_id is not None:
            self.static_members[req.group_instance_id] = member_id
        if self.leader is None:
            self.leader = member_id
            self.protocol_type = req.protocol_type
        if self.state is PREPARING and self.join_delay_deadline_ms > now_ms:
            delay = self.config.initial_rebalance_delay_ms
            self.join_delay_deadline_ms = min(now_ms + delay, self.rebalance_deadline_ms)
        self._rebalance(now_ms)
        return Parked(member_id)

    def _update_member(self, member: Member, req: JoinRequest, now_ms: int) -> None:
        member.client_id = req.client_id
        member.client_host = req.client_host
        member.session_timeout_ms = req.session_timeout_ms
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.protocols = list(req.protocols)
        member.last_heartbeat_ms = now_ms

    def _replace_static(self, old_id: str, new_id: str, req: JoinRequest,
                        now_ms: int) -> JoinResult | Parked:
        """A static member came back under a new member id: fence the old id and take over
        its place; in a Stable group with an unchanged protocol, without a rebalance."""
        old = self.members.pop(old_id)
        self._fence(old, ErrorCode.FENCED_INSTANCE_ID)
        member = msgspec.structs.replace(old, member_id=new_id)
        self.members[new_id] = member
        assert req.group_instance_id is not None
        self.static_members[req.group_instance_id] = new_id
        if old_id in self.pending_sync:
            self.pending_sync.discard(old_id)
            self.pending_sync.add(new_id)
        old_leader = self.leader
        if self.leader == old_id:
            self.leader = new_id
        self._update_member(member, req, now_ms)
        if self.state is STABLE and self._select_protocol() == self.protocol_name:
            self.dirty = True
            return self._static_rejoin_result(member, old_leader, req.supports_skip_assignment)
        member.awaiting_join = True
        self._rebalance(now_ms)
        return Parked(new_id)

    def _static_rejoin_result(self, member: Member, old_leader: str | None,
                              skip_ok: bool) -> JoinResult:
        if member.member_id == self.leader and skip_ok:
            result = self._join_result(member)
            result.skip_assignment = True
            return result
        result = self._join_result(member, with_members=False)
        result.leader = old_leader or ""  # not this member: it must not reassign a Stable group
        return result

    def _join_result(self, member: Member, with_members: bool = True) -> JoinResult:
        members = []
        if with_members and member.member_id == self.leader:
            members = [JoinMember(m.member_id, m.group_instance_id, m.metadata(self.protocol_name))
                       for m in self.members.values()]
        return JoinResult(generation_id=self.generation, protocol_type=self.protocol_type,
                          protocol_name=self.protocol_name, leader=self.leader or "",
                          member_id=member.member_id, members=members)

    # --- rebalance -----------------------------------------------------------------------

    def _rebalance(self, now_ms: int) -> None:
        """Move to PreparingRebalance if not there yet, then complete the join if it can."""
        if self.state in (EMPTY, STABLE, COMPLETING):
            self._prepare_rebalance(now_ms)
        self._maybe_complete_join(now_ms)

    def _prepare_rebalance(self, now_ms: int) -> None:
        for m in self.members.values():
            if m.awaiting_sync:
                m.awaiting_sync = False
                self._reply("sync", m.member_id, SyncResult(error=ErrorCode.REBALANCE_IN_PROGRESS))
        initial = self.state is EMPTY
        self.state = PREPARING
        self.pending_sync.clear()
        self.rebalances += 1
        timeout = max((m.rebalance_timeout_ms for m in self.members.values()), default=0)
        self.rebalance_deadline_ms = now_ms + timeout
        delay = min(self.config.initial_rebalance_delay_ms if initial else 0, timeout)
        self.join_delay_deadline_ms = now_ms + delay if delay > 0 else 0  # 0: no delay

    def _maybe_complete_join(self, now_ms: int) -> None:
        if self.state is not PREPARING:
            return
        if self.join_delay_deadline_ms:
            if now_ms < self.join_delay_deadline_ms:
                return
            self.join_delay_deadline_ms = 0  # spent: never a deadline in the past
        if not self.pending_members and all(m.awaiting_join for m in self.members.values()):
            self._complete_join(now_ms)

    def _complete_join(self, now_ms: int) -> None:
        """Members that did not rejoin are out; a new generation starts."""
        for m in [m for m in self.members.values() if not m.awaiting_join]:
            self._remove(m, ErrorCode.UNKNOWN_MEMBER_ID)
            self.expired_members += 1
        self.pending_members.clear()
        self.generation += 1
        if not self.members:
            self._become_empty()
            return
        self.protocol_name = self._select_protocol()
        if self.leader not in self.members:
            self.leader = next(iter(self.members))
        self.state = COMPLETING
        self.pending_sync = set(self.members)
        timeout = max(m.rebalance_timeout_ms for m in self.members.values())
        self.sync_deadline_ms = now_ms + timeout
        for m in self.members.values():
            m.awaiting_join = m.is_new = False
            m.last_heartbeat_ms = now_ms
            self._reply("join", m.member_id, self._join_result(m))

    def _become_empty(self) -> None:
        self.state = EMPTY
        self.protocol_name = None
        self.leader = None
        self.pending_sync.clear()
        self.dirty = True

    def _select_protocol(self) -> str | None:
        """The protocol every member supports that most members prefer (ties: the first
        member's preference order)."""
        candidates = self._candidates()
        votes: dict[str, int] = {}
        for m in self.members.values():
            choice = next((n for n in m.names() if n in candidates), None)
            if choice is not None:
                votes[choice] = votes.get(choice, 0) + 1
        order = next(iter(self.members.values())).names() if self.members else []
        ranked = sorted(votes, key=lambda n: (-votes[n], order.index(n)))
        return ranked[0] if ranked else None

    # --- SyncGroup -----------------------------------------------------------------------

    def sync(self, req: SyncRequest, now_ms: int) -> SyncResult | Parked:
        """SyncGroup: the leader's call carries every assignment; others wait for it."""
        error = self._sync_error(req)
        if error:
            return SyncResult(error=error)
        member = self.members[req.member_id]
        member.last_heartbeat_ms = now_ms
        self.pending_sync.discard(member.member_id)
        if self.state is STABLE:
            return self._sync_result(member)
        member.awaiting_sync = True
        if member.member_id == self.leader:
            self._install_assignments(req.assignments)
        return Parked(member.member_id)

    def _sync_error(self, req: SyncRequest) -> ErrorCode:
        if self.state is DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = self._member_error(req.member_id, req.group_instance_id)
        if error:
            return error
        if req.generation_id != self.generation:
            return ErrorCode.ILLEGAL_GENERATION
        if (req.protocol_type is not None and req.protocol_type != self.protocol_type) or (
                req.protocol_name is not None and req.protocol_name != self.protocol_name):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        if self.state is PREPARING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def _install_assignments(self, assignments: dict[str, bytes]) -> None:
        for m in self.members.values():
            m.assignment = assignments.get(m.member_id, b"")
        self.state = STABLE
        self.dirty = True
        for m in self.members.values():
            if m.awaiting_sync:
                m.awaiting_sync = False
                self._reply("sync", m.member_id, self._sync_result(m))

    def _sync_result(self, member: Member) -> SyncResult:
        return SyncResult(protocol_type=self.protocol_type, protocol_name=self.protocol_name,
                          assignment=member.assignment)

    # --- Heartbeat, LeaveGroup -------------------------------------------------------------

    def heartbeat(self, req: HeartbeatRequest, now_ms: int) -> ErrorCode:
        if self.state is DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = self._member_error(req.member_id, req.group_instance_id)
        if error:
            return error
        if req.generation_id != self.generation:
            return ErrorCode.ILLEGAL_GENERATION
        self.members[req.member_id].last_heartbeat_ms = now_ms
        if self.state is PREPARING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave(self, leaving: list[LeaveMember], now_ms: int) -> list[LeaveResult]:
        """LeaveGroup (one member, or a batch by member id or group.instance.id, KIP-345)."""
        before = len(self.members)
        results = [LeaveResult(m.member_id, m.group_instance_id, self._leave_one(m))
                   for m in leaving]
        if len(self.members) < before:
            self._after_removal(now_ms)
        else:
            self._maybe_complete_join(now_ms)  # it may have waited for a pending member
        return results

    def _leave_one(self, who: LeaveMember) -> ErrorCode:
        member_id = who.member_id
        if who.group_instance_id is not None:
            known = self.static_members.get(who.group_instance_id)
            if known is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if member_id and member_id != known:
                return ErrorCode.FENCED_INSTANCE_ID
            member_id = known
        if self.pending_members.pop(member_id, None) is not None:
            return ErrorCode.NONE
        member = self.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        self._remove(member, ErrorCode.UNKNOWN_MEMBER_ID)
        return ErrorCode.NONE

    def _member_error(self, member_id: str, instance_id: str | None) -> ErrorCode:
        if instance_id is not None:
            known = self.static_members.get(instance_id)
            if known is not None and known != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if member_id not in self.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return ErrorCode.NONE

    def _remove(self, member: Member, reply_error: ErrorCode) -> None:
        del self.members[member.member_id]
        if member.group_instance_id is not None:
            self.static_members.pop(member.group_instance_id, None)
        self._fence(member, reply_error)
        self.pending_sync.discard(member.member_id)
        if self.leader == member.member_id:
            self.leader = next(iter(self.members), None)

    def _fence(self, member: Member, error: ErrorCode) -> None:
        """Answer the member's parked requests with `error`."""
        if member.awaiting_join:
            member.awaiting_join = False
            self._reply("join", member.member_id,
                        JoinResult(error=error, member_id=member.member_id))
        if member.awaiting_sync:
            member.awaiting_sync = False
            self._reply("sync", member.member_id, SyncResult(error=error))

    def _after_removal(self, now_ms: int) -> None:
        if self.state in (STABLE, COMPLETING):
            self._prepare_rebalance(now_ms)
        self._maybe_complete_join(now_ms)

    def _reply(self, kind: str, member_id: str, result: JoinResult | SyncResult) -> None:
        self.outbox.append(Delivery(kind, member_id, result))

    # --- timers --------------------------------------------------------------------------

    def tick(self, now_ms: int) -> None:
        """Expire sessions, pending members and overdue rebalances as of now_ms."""
        self._expire_pending_members(now_ms)  # not members: no rebalance for them
        removed = self._expire_sessions(now_ms)
        removed |= self._expire_pending_sync(now_ms)
        if removed:
            self._after_removal(now_ms)
        if self.state is PREPARING and now_ms >= self.rebalance_deadline_ms:
            self._complete_join(now_ms)  # evicts every member that did not rejoin in time
        self._maybe_complete_join(now_ms)

    def _expire_pending_members(self, now_ms: int) -> bool:
        expired = [mid for mid, until in self.pending_members.items() if now_ms >= until]
        for mid in expired:
            del self.pending_members[mid]
        return bool(expired)

    def _expire_sessions(self, now_ms: int) -> bool:
        expired = []
        for m in self.members.values():
            if m.awaiting_join:
                join_deadline_ms = m.last_heartbeat_ms + self.config.new_member_join_timeout_ms
                if m.is_new and now_ms >= join_deadline_ms:
                    expired.append(m)
            elif not m.awaiting_sync and now_ms >= m.last_heartbeat_ms + m.session_timeout_ms:
                expired.append(m)
        for m in expired:
            self._remove(m, ErrorCode.UNKNOWN_MEMBER_ID)
        self.expired_members += len(expired)
        return bool(expired)

    def _expire_pending_sync(self, now_ms: int) -> bool:
        """Members that joined a generation but never synced within the rebalance timeout."""
        if not self.pending_sync or self.state not in (COMPLETING, STABLE):
            return False
        if now_ms < self.sync_deadline_ms:
            return False
        for mid in list(self.pending_sync):
            self._remove(self.members[mid], ErrorCode.UNKNOWN_MEMBER_ID)
            self.expired_members += 1
        return True

    # --- DeleteGroups, DescribeGroups, persistence ------------------------------------------

    def delete_error(self) -> ErrorCode:
        if self.state is DEAD:
            return ErrorCode.GROUP_ID_NOT_FOUND
        if self.state is not EMPTY:
            return ErrorCode.NON_EMPTY_GROUP
        return ErrorCode.NONE

    def mark_dead(self) -> None:
        self.state = DEAD
        self.offsets.clear()
        self.pending_members.clear()

    def describe(self) -> GroupDescription:
        stable = self.state is STABLE
        protocol = self.protocol_name if stable else None
        return GroupDescription(group_id=self.group_id, state=self.state.value,
                                protocol_type=self.protocol_type or "",
                                protocol_data=protocol or "",
                                members=[m.describe(protocol) for m in self.members.values()])

    def snapshot(self) -> GroupValue:
        """What persists of the group: its last stable generation with assignments."""
        self.dirty = False
        return GroupValue(protocol_type=self.protocol_type, protocol_name=self.protocol_name,
                          generation=self.generation, leader=self.leader,
                          members=[m.to_value() for m in self.members.values()])

    def restore(self, value: GroupValue, now_ms: int) -> None:
        """Recover a persisted group: Stable with its members (each gets a fresh session)
        if it had any, else Empty."""
        self.protocol_type, self.protocol_name = value.protocol_type, value.protocol_name
        self.generation = value.generation
        stable = bool(value.members and value.protocol_name)
        self.leader = value.leader if stable else None
        self.members = {v.member_id: Member.from_value(v, now_ms)
                        for v in value.members} if stable else {}
        self.static_members = {m.group_instance_id: m.member_id for m in self.members.values()
                               if m.group_instance_id is not None}
        self.state = STABLE if stable else EMPTY
