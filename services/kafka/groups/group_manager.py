"""Every group this shard coordinates: the asyncio edge around the synchronous Group cores.

Owns the groups, the futures of parked JoinGroup/SyncGroup requests, one timer per group
(session, rebalance and sync deadlines) and the shard's GroupStore. Invariants: a reply that
depends on a state change leaves only after that change is durable; an offset is visible to
OffsetFetch only once durable. Never blocks the reactor on I/O; never touches another shard;
reads time and arms timers only through its GroupClock (tests drive a ManualClock).
"""

from __future__ import annotations

import asyncio
import logging

from panda.net.kafka import ErrorCode
from panda.runtime import logs
from panda.storage.errors import StorageError

from .calls import (
    CommitRequest,
    CommitResult,
    FetchOffsetsRequest,
    FetchOffsetsResult,
    GroupDescription,
    HeartbeatRequest,
    JoinRequest,
    JoinResult,
    LeaveMember,
    LeaveReply,
    LeaveResult,
    ListedGroupInfo,
    OffsetDeleteReply,
    OffsetEntry,
    Parked,
    PartitionError,
    SyncRequest,
    SyncResult,
    TopicPartition,
)
from .config import GroupConfig
from .consumer_offsets_records import CommittedOffset, GroupKey, GroupValue, OffsetKey
from .errors import CoordinatorStopped, code_for
from .group import DEAD, EMPTY, Delivery, Group
from .group_clock import GroupClock, LoopClock, Timer
from .group_store import Entry, GroupStore
from .offset_table import OffsetTable
from .probe import GroupProbe

log = logs.logger("panda.services.kafka.groups")


class GroupManager:
    """`await GroupManager(data_dir, shard).start()`; one per shard."""

    def __init__(self, data_dir: str, shard: int, config: GroupConfig | None = None,
                 clock: GroupClock | None = None, direct_io: bool = True) -> None:
        self.data_dir = data_dir
        self.shard = shard
        self.config = config or GroupConfig()
        self.probe = GroupProbe()
        self.groups: dict[str, Group] = {}
        self.loaded = False
        self._clock: GroupClock = clock or LoopClock()
        self._direct_io = direct_io
        self._store: GroupStore | None = None
        self._parked: dict[tuple[str, str, str], list[asyncio.Future]] = {}
        self._timers: dict[str, Timer] = {}
        self._expiry_timer: Timer | None = None
        self._tasks: set[asyncio.Task] = set()

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> GroupManager:
        self._store = await GroupStore.open(self.data_dir, self.shard, self._direct_io)
        self._load(self._store)
        self.loaded = True
        for group in self.groups.values():
            self._arm(group)
        self._arm_offset_expiry()
        return self

    def _arm_offset_expiry(self) -> None:
        """The next offset-expiry pass, offsets_retention_check_ms after the last one ended."""
        self._expiry_timer = self._clock.call_later(
            self.config.offsets_retention_check_ms, lambda: self._spawn(self._expire_and_rearm()))

    async def _expire_and_rearm(self) -> None:
        try:
            await self.expire_offsets(self._clock.wall_ms())
        except StorageError as exc:
            log.error("offset expiry failed: %r", exc)
        self._arm_offset_expiry()

    async def expire_offsets(self, now_wall_ms: int) -> int:
        """Drop offsets past retention in Empty groups, then groups with nothing left;
        returns how many offsets expired."""
        expired = 0
        for group in list(self.groups.values()):
            keys = group.expired_offsets(now_wall_ms)
            if not keys and group.is_forgettable() and self.groups.get(group.group_id) is group:
                await self.store.append([(GroupKey(group.group_id), None)])
                del self.groups[group.group_id]  # an Empty group with no offsets left
                continue
            if not keys:
                continue
            doomed: list[Entry] = [(OffsetKey(group.group_id, t, p), None) for t, p in keys]
            forget = len(keys) == len(group.offsets) and not group.pending_members
            if forget:
                doomed.append((GroupKey(group.group_id), None))
            await self.store.append(doomed)
            for key in keys:
                group.offsets.pop(key, None)
            if forget and group.is_forgettable() and self.groups.get(group.group_id) is group:
                del self.groups[group.group_id]
            expired += len(keys)
        if expired:
            log.info("%d committed offsets expired", expired)
        return expired

    def _load(self, store: GroupStore) -> None:
        """Fold the log: the last record of each key wins."""
        values: dict[str, GroupValue | None] = {}
        count = 0
        for key, value in store.replay():
            count += 1
            if isinstance(key, GroupKey):
                values[key.group_id] = value  # type: ignore[assignment]
                if value is None:
                    self.groups.pop(key.group_id, None)
                continue
            group = self._group(key.group_id)
            if value is None:
                group.offsets.pop((key.topic, key.partition), None)
            else:
                group.offsets[(key.topic, key.partition)] = value  # type: ignore[assignment]
        now = self._clock.monotonic_ms()
        for group_id, value in values.items():
            if value is not None:
                self._group(group_id).restore(value, now)
        log.info("loaded %d groups from %d records", len(self.groups), count)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        for futures in self._parked.values():
            for future in futures:
                if not future.done():
                    future.set_exception(CoordinatorStopped())
        self._parked.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._store is not None:
            await self._store.close()
            self._store = None
        self.loaded = False

    @property
    def store(self) -> GroupStore:
        assert self._store is not None, "group manager not started"
        return self._store

    def _group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = Group(group_id, self.config)
        return group

    # --- JoinGroup / SyncGroup / Heartbeat / LeaveGroup ---------------------------------------

    async def join(self, req: JoinRequest) -> JoinResult:
        if not self.loaded:
            return JoinResult(error=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
                              member_id=req.member_id)
        group = self._group(req.group_id)
        outcome = group.join(req, self._clock.monotonic_ms())
        self._debug(req.group_id, "join member=%r instance=%r state=%s -> %r", req.member_id,
                    req.group_instance_id, group.state.value, outcome)
        self.probe.joined()
        waiter = self._park(group, "join", outcome) if isinstance(outcome, Parked) else None
        await self._settle(group)
        if waiter is None:
            assert isinstance(outcome, JoinResult)
            self._forget_if_unused(group)
            return outcome
        return await waiter

    async def sync(self, req: SyncRequest) -> SyncResult:
        if not self.loaded:
            return SyncResult(error=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        group = self.groups.get(req.group_id)
        if group is None:
            return SyncResult(error=ErrorCode.UNKNOWN_MEMBER_ID)
        outcome = group.sync(req, self._clock.monotonic_ms())
        self._debug(req.group_id, "sync member=%r generation=%d -> %r", req.member_id,
                    req.generation_id, outcome)
        waiter = self._park(group, "sync", outcome) if isinstance(outcome, Parked) else None
        await self._settle(group)
        if waiter is None:
            assert isinstance(outcome, SyncResult)
            return outcome
        return await waiter

    async def heartbeat(self, req: HeartbeatRequest) -> int:
        if not self.loaded:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        group = self.groups.get(req.group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        error = group.heartbeat(req, self._clock.monotonic_ms())
        if error:
            self._debug(req.group_id, "heartbeat member=%r generation=%d -> %s", req.member_id,
                        req.generation_id, ErrorCode(error).name)
        self._arm(group)
        return error

    async def leave(self, group_id: str, members: list[LeaveMember]) -> LeaveReply:
        if not self.loaded:
            return LeaveReply(error=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        group = self.groups.get(group_id)
        if group is None or group.state is DEAD:
            error = ErrorCode.NONE if group is None else ErrorCode.COORDINATOR_NOT_AVAILABLE
            return LeaveReply(error=error, members=[
                _leave_error(m, ErrorCode.UNKNOWN_MEMBER_ID) for m in members])
        results = group.leave(members, self._clock.monotonic_ms())
        self._debug(group_id, "leave -> %r", results)
        await self._settle(group)
        return LeaveReply(members=results)

    def _debug(self, group_id: str, message: str, *args: object) -> None:
        """A debug line about one group (group=<id>); nothing is formatted when debug is off."""
        if log.isEnabledFor(logging.DEBUG):
            log.bind(group=group_id).debug(message, *args)

    # --- parked requests, persistence, timers -------------------------------------------------

    def _park(self, group: Group, kind: str, parked: Parked) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # its request may be gone: no "never retrieved"
        self._parked.setdefault((group.group_id, kind, parked.member_id), []).append(future)
        return future

    async def _settle(self, group: Group) -> None:
        """Persist the group if it changed, then deliver the replies it queued, then re-arm.
        Runs to the end even if the request that caused it is cancelled (its client left):
        other members' parked requests wait for these replies."""
        await asyncio.shield(self._spawn(self._settle_now(group)))

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _settle_now(self, group: Group) -> None:
        deliveries = group.take_outbox()
        rebalances, expired = group.take_counts()
        self.probe.rebalanced(rebalances)
        self.probe.members_expired(expired)
        if group.dirty:
            try:
                await self._persist(group)
            except StorageError as exc:  # storage failed: the replies carry the error instead
                log.bind(group=group.group_id).error("persisting the group failed: %r", exc)
                deliveries = [_failed(d, code_for(exc)) for d in deliveries]
        self._log_changes(group, deliveries, rebalances, expired)
        self._deliver(group.group_id, deliveries)
        self._arm(group)
        self._forget_if_unused(group)

    def _forget_if_unused(self, group: Group) -> None:
        """Drop a group that never held anything (a refused or abandoned first join): it was
        never written, so memory is all there is to free."""
        if group.generation == 0 and group.is_forgettable() and not group.dirty and (
                self.groups.get(group.group_id) is group):
            del self.groups[group.group_id]
            timer = self._timers.pop(group.group_id, None)
            if timer is not None:
                timer.cancel()

    def _log_changes(self, group: Group, deliveries: list[Delivery], rebalances: int,
                     expired: int) -> None:
        """One line per rebalance started, generation completed and member expired."""
        completed = any(d.kind == "join" and d.result.error == ErrorCode.NONE for d in deliveries)
        if not (expired or rebalances or completed):
            return
        group_log = log.bind(group=group.group_id)
        if expired:
            group_log.info("%d member(s) expired", expired)
        if rebalances:
            group_log.info("rebalance started at generation %d (%d members)",
                           group.generation, len(group.members))
        if completed:
            group_log.info("generation %d, protocol %s, leader %s, members %s",
                           group.generation, group.protocol_name, group.leader,
                           sorted(group.members))

    async def _persist(self, group: Group) -> None:
        value = group.snapshot()
        await self.store.append([(GroupKey(group.group_id), value)])
        self.probe.group_persisted()

    def _deliver(self, group_id: str, deliveries: list[Delivery]) -> None:
        for d in deliveries:
            self._debug(group_id, "%s reply to member=%r: %r", d.kind, d.member_id, d.result)
            for future in self._parked.pop((group_id, d.kind, d.member_id), ()):
                if not future.done():
                    future.set_result(d.result)

    def _arm(self, group: Group) -> None:
        timer = self._timers.pop(group.group_id, None)
        if timer is not None:
            timer.cancel()
        deadline = group.next_deadline_ms()
        if deadline is None:
            return
        delay_ms = max(deadline - self._clock.monotonic_ms(), 0)
        self._timers[group.group_id] = self._clock.call_later(delay_ms, self._on_timer, group)

    def _on_timer(self, group: Group) -> None:
        self._timers.pop(group.group_id, None)
        if self.groups.get(group.group_id) is not group:
            return
        group.tick(self._clock.monotonic_ms())
        self._spawn(self._settle_now(group))

    # --- offsets -------------------------------------------------------------------------

    async def commit(self, req: CommitRequest) -> CommitResult:
        """OffsetCommit: acknowledged only once the offsets are durable."""
        def every(error: int) -> CommitResult:
            return CommitResult([PartitionError(e.topic, e.partition, error) for e in req.offsets])

        if not self.loaded:
            return every(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        group = self._group(req.group_id)
        error = group.commit_error(req, self._clock.monotonic_ms())
        if error:
            self._forget_if_unused(group)
            return every(error)
        errors = [group.offset_error(e) for e in req.offsets]
        accepted = [e for e, err in zip(req.offsets, errors) if err == ErrorCode.NONE]
        try:  # shielded: a commit that reached the log also reaches memory
            await asyncio.shield(self._spawn(self._write_offsets(group, accepted)))
        except StorageError as exc:
            log.bind(group=req.group_id).error("offset commit failed: %r", exc)
            return every(code_for(exc))
        return CommitResult([PartitionError(e.topic, e.partition, err)
                             for e, err in zip(req.offsets, errors)])

    async def _write_offsets(self, group: Group, accepted: list[OffsetEntry]) -> None:
        now = self._clock.wall_ms()
        committed = [_committed(e, now) for e in accepted]
        await self.store.append([(OffsetKey(group.group_id, e.topic, e.partition), c)
                                 for e, c in zip(accepted, committed)])
        for entry, c in zip(accepted, committed):
            group.offsets[(entry.topic, entry.partition)] = c
        self.probe.offsets_committed(len(accepted))
        self._arm(group)

    async def fetch_offsets(self, req: FetchOffsetsRequest) -> FetchOffsetsResult:
        if not self.loaded:
            return FetchOffsetsResult(error=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        group = self.groups.get(req.group_id)
        if group is None or group.state is DEAD:
            return FetchOffsetsResult(offsets=OffsetTable().fetch(req.partitions or []))
        return FetchOffsetsResult(offsets=group.offsets.fetch(req.partitions))

    async def delete_offsets(self, group_id: str,
                             partitions: list[TopicPartition]) -> OffsetDeleteReply:
        if not self.loaded:
            return OffsetDeleteReply(error=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        group = self.groups.get(group_id)
        if group is None:
            return OffsetDeleteReply(error=ErrorCode.GROUP_ID_NOT_FOUND)
        error, results = group.offset_delete_errors(partitions)
        if error:
            return OffsetDeleteReply(error=error)
        doomed = [r for r in results if r.error == ErrorCode.NONE
                  and (r.topic, r.partition) in group.offsets]
        try:
            await self.store.append([(OffsetKey(group_id, r.topic, r.partition), None)
                                     for r in doomed])
        except StorageError as exc:
            return OffsetDeleteReply(error=code_for(exc))
        for r in doomed:
            group.offsets.pop((r.topic, r.partition), None)
        return OffsetDeleteReply(partitions=results)

    # --- DeleteGroups, ListGroups, DescribeGroups -------------------------------------------

    async def delete_group(self, group_id: str) -> int:
        if not self.loaded:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        error = group.delete_error()
        if error:
            return error
        tombstones: list[Entry] = [(OffsetKey(group_id, t, p), None) for t, p in group.offsets]
        tombstones.append((GroupKey(group_id), None))
        try:
            await self.store.append(tombstones)
        except StorageError as exc:
            return code_for(exc)
        group.mark_dead()
        if self.groups.get(group_id) is group:
            del self.groups[group_id]
        self._arm(group)
        return ErrorCode.NONE

    def list_groups(self, states: list[str], types: list[str]) -> list[ListedGroupInfo]:
        """Groups of this shard; filters as in ListGroups v4/v5 (empty: no filter)."""
        wanted_states = {s.lower() for s in states}
        wanted_types = {t.lower() for t in types}
        out = []
        for group in self.groups.values():
            if group.state is DEAD or (group.state is EMPTY and not group.offsets
                                       and not group.generation):
                continue
            if wanted_states and group.state.value.lower() not in wanted_states:
                continue
            if wanted_types and "classic" not in wanted_types:
                continue
            out.append(ListedGroupInfo(group.group_id, group.protocol_type or "",
                                       group.state.value))
        return out

    def describe(self, group_id: str) -> GroupDescription:
        if not self.loaded:
            return GroupDescription(error=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
                                    group_id=group_id, state="", protocol_type="",
                                    protocol_data="")
        group = self.groups.get(group_id)
        if group is None:
            return GroupDescription(group_id=group_id, state="Dead", protocol_type="",
                                    protocol_data="")
        return group.describe()


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def _failed(d: Delivery, error: int) -> Delivery:
    if d.kind == "join":
        return Delivery(d.kind, d.member_id, JoinResult(error=error, member_id=d.member_id))
    return Delivery(d.kind, d.member_id, SyncResult(error=error))


def _leave_error(m: LeaveMember, error: int) -> LeaveResult:
    return LeaveResult(m.member_id, m.group_instance_id, error)


def _committed(entry: OffsetEntry, now_ms: int) -> CommittedOffset:
    stamp = entry.commit_timestamp_ms if entry.commit_timestamp_ms >= 0 else now_ms
    return CommittedOffset(offset=entry.offset, leader_epoch=entry.leader_epoch,
                           metadata=entry.metadata, commit_timestamp_ms=stamp)
