"""The coordinator's asyncio edge on one shard, with a real __consumer_offsets log on disk:
parked JoinGroup/SyncGroup long polls, timers, durable commits and recovery on restart.
Time is a ManualClock the tests advance: no test waits for real time to pass."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from panda.net.kafka import ErrorCode
from panda.services.kafka.groups.calls import (
    CommitRequest,
    FetchOffsetsRequest,
    HeartbeatRequest,
    JoinRequest,
    LeaveMember,
    OffsetEntry,
    Protocol,
    SyncRequest,
    TopicPartition,
)
from panda.services.kafka.groups.config import GroupConfig
from panda.services.kafka.groups.errors import CoordinatorStopped
from panda.services.kafka.groups.group_clock import ManualClock
from panda.services.kafka.groups.group_manager import GroupManager

YIELDS_MAX = 1_000      # event-loop passes a condition may take (no real time involved)


def join_req(member_id: str = "", instance: str | None = None, session_ms: int = 1_000,
             group_id: str = "g") -> JoinRequest:
    return JoinRequest(group_id=group_id, member_id=member_id, group_instance_id=instance,
                       client_id="c", session_timeout_ms=session_ms, rebalance_timeout_ms=2_000,
                       protocol_type="consumer", protocols=[Protocol("range", b"m")])


async def started(path, clock: ManualClock | None = None, **config) -> GroupManager:
    return await GroupManager(str(path), 0, GroupConfig(**config), clock=clock or ManualClock(),
                              direct_io=False).start()


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until condition() holds (parked requests, settled tasks)."""
    for _ in range(YIELDS_MAX):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"still false after {YIELDS_MAX} loop passes: {condition}")


async def join_stable(manager: GroupManager, n: int, group_id: str = "g") -> list[str]:
    """n members join concurrently (KIP-394 round trip included) and sync; returns ids."""
    first = [await manager.join(join_req(group_id=group_id)) for _ in range(n)]
    assert {r.error for r in first} == {ErrorCode.MEMBER_ID_REQUIRED}
    joined = await asyncio.gather(*[manager.join(join_req(r.member_id, group_id=group_id))
                                    for r in first])
    generation = joined[0].generation_id
    leader = joined[0].leader
    assert {r.generation_id for r in joined} == {generation} and len(
        {r.member_id for r in joined}) == n
    syncs = [SyncRequest(group_id=group_id, generation_id=generation, member_id=r.member_id,
                         assignments={j.member_id: j.member_id.encode() for j in joined}
                         if r.member_id == leader else {})
             for r in joined]
    synced = await asyncio.gather(*[manager.sync(s) for s in syncs])
    assert [s.assignment for s in synced] == [r.member_id.encode() for r in joined]
    return [r.member_id for r in joined]


def test_parked_joins_complete_together_and_sync_delivers_assignments(tmp_path):
    async def main():
        manager = await started(tmp_path)
        try:
            ids = await join_stable(manager, 3)
            assert manager.groups["g"].state.value == "Stable"
            for mid in ids:
                assert await manager.heartbeat(HeartbeatRequest(
                    group_id="g", generation_id=1, member_id=mid)) == ErrorCode.NONE
        finally:
            await manager.stop()

    asyncio.run(main())


def test_session_timer_expires_a_silent_member_without_any_request(tmp_path):
    async def main():
        clock = ManualClock()
        manager = await started(tmp_path, clock)
        try:
            ids = await join_stable(manager, 2)
            for _ in range(8):  # ids[0] heartbeats every 200 ms, ids[1] is silent
                clock.advance(200)
                await manager.heartbeat(HeartbeatRequest(group_id="g", generation_id=1,
                                                         member_id=ids[0]))
            assert ids[1] not in manager.groups["g"].members
            rejoin = await manager.join(join_req(ids[0]))
            assert rejoin.generation_id == 2 and [m.member_id for m in rejoin.members] == [ids[0]]
        finally:
            await manager.stop()

    asyncio.run(main())


def test_committed_offsets_and_group_survive_restart(tmp_path):
    async def main():
        manager = await started(tmp_path)
        ids = await join_stable(manager, 2)
        result = await manager.commit(CommitRequest(
            group_id="g", generation_id=1, member_id=ids[0],
            offsets=[OffsetEntry("t", 0, 10, metadata="a"), OffsetEntry("t", 1, 20)]))
        assert [p.error for p in result.partitions] == [0, 0]
        simple = await manager.commit(CommitRequest(group_id="solo",
                                                    offsets=[OffsetEntry("u", 0, 5)]))
        assert simple.partitions[0].error == 0
        await manager.stop()

        again = await started(tmp_path)
        try:
            fetched = await again.fetch_offsets(FetchOffsetsRequest(group_id="g", partitions=[
                TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("t", 2)]))
            assert [(e.offset, e.metadata) for e in fetched.offsets] == [
                (10, "a"), (20, ""), (-1, "")]
            assert [e.offset for e in (await again.fetch_offsets(
                FetchOffsetsRequest(group_id="solo"))).offsets] == [5]
            group = again.groups["g"]
            assert group.state.value == "Stable" and group.generation == 1
            assert await again.heartbeat(HeartbeatRequest(group_id="g", generation_id=1,
                                                          member_id=ids[1])) == ErrorCode.NONE
            synced = await again.sync(SyncRequest(group_id="g", generation_id=1, member_id=ids[1]))
            assert synced.assignment == ids[1].encode()
        finally:
            await again.stop()

    asyncio.run(main())


def test_delete_group_needs_empty_and_is_durable(tmp_path):
    async def main():
        manager = await started(tmp_path)
        ids = await join_stable(manager, 1)
        await manager.commit(CommitRequest(group_id="g", generation_id=1, member_id=ids[0],
                                           offsets=[OffsetEntry("t", 0, 3)]))
        assert await manager.delete_group("g") == ErrorCode.NON_EMPTY_GROUP
        reply = await manager.leave("g", [LeaveMember(ids[0])])
        assert reply.members[0].error == ErrorCode.NONE
        assert manager.groups["g"].state.value == "Empty"
        assert [g.group_id for g in manager.list_groups([], [])] == ["g"]
        assert await manager.delete_group("g") == ErrorCode.NONE
        assert await manager.delete_group("g") == ErrorCode.GROUP_ID_NOT_FOUND
        await manager.stop()
        again = await started(tmp_path)
        try:
            assert "g" not in again.groups
            assert (await again.fetch_offsets(FetchOffsetsRequest(group_id="g"))).offsets == []
        finally:
            await again.stop()

    asyncio.run(main())


def test_stop_answers_parked_requests(tmp_path):
    async def main():
        manager = await started(tmp_path, initial_rebalance_delay_ms=60_000)
        parked = asyncio.ensure_future(manager.join(join_req(instance="i-1")))
        await until(lambda: "g" in manager.groups and bool(manager.groups["g"].members))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not parked.done()
        await manager.stop()
        with pytest.raises(CoordinatorStopped):
            await parked

    asyncio.run(main())


def test_a_cancelled_leader_sync_still_answers_the_other_members(tmp_path):
    """The leader's client goes away mid-SyncGroup: the group still becomes Stable and the
    parked follower gets its assignment (the settle step is shielded from cancellation)."""
    async def main():
        manager = await started(tmp_path)
        try:
            first = [await manager.join(join_req()) for _ in range(2)]
            joined = await asyncio.gather(*[manager.join(join_req(r.member_id)) for r in first])
            leader = next(r for r in joined if r.member_id == r.leader)
            follower = next(r for r in joined if r.member_id != r.leader)
            parked = asyncio.ensure_future(manager.sync(SyncRequest(
                group_id="g", generation_id=1, member_id=follower.member_id)))
            await until(lambda: manager.groups["g"].members[follower.member_id].awaiting_sync)
            lead = asyncio.ensure_future(manager.sync(SyncRequest(
                group_id="g", generation_id=1, member_id=leader.member_id,
                assignments={follower.member_id: b"F", leader.member_id: b"L"})))
            await asyncio.sleep(0)  # the leader's sync runs up to its durable write
            lead.cancel()
            assert (await asyncio.wait_for(parked, 5)).assignment == b"F"
            assert manager.groups["g"].state.value == "Stable"
        finally:
            await manager.stop()

    asyncio.run(main())


def test_replay_after_key_compaction_recovers_the_latest_offsets(tmp_path):
    from panda.services.kafka.groups.consumer_offsets_records import CommittedOffset, OffsetKey
    from panda.services.kafka.groups.group_store import GroupStore

    async def main():
        store = await GroupStore.open(str(tmp_path), 0, direct_io=False, segment_bytes=4096)
        for i in range(400):  # ~25 closed segments of the same two keys
            await store.append([(OffsetKey("g", "t", i % 2), CommittedOffset(offset=i))])
        before = sum(1 for _ in store.replay())
        await store.compact()
        after = list(store.replay())
        await store.close()
        manager = await started(tmp_path)
        try:
            fetched = await manager.fetch_offsets(FetchOffsetsRequest(group_id="g"))
        finally:
            await manager.stop()
        return before, len(after), [e.offset for e in fetched.offsets]

    before, after, offsets = asyncio.run(main())
    assert before == 400 and after < 40
    assert offsets == [398, 399]


def test_offsets_of_an_empty_group_expire_after_retention_and_the_group_goes(tmp_path):
    day_ms = 24 * 3_600_000

    async def main():
        clock = ManualClock()
        manager = await started(tmp_path, clock, offsets_retention_ms=day_ms)
        ids = await join_stable(manager, 1)
        await manager.commit(CommitRequest(group_id="g", generation_id=1, member_id=ids[0],
                                           offsets=[OffsetEntry("t", 0, 3)]))
        await manager.commit(CommitRequest(group_id="solo", offsets=[
            OffsetEntry("t", 0, 1, commit_timestamp_ms=1), OffsetEntry("t", 1, 2)]))
        now = clock.wall_ms()
        assert await manager.expire_offsets(now + 2 * day_ms) == 2  # "g" is live: kept
        assert "solo" not in manager.groups
        await manager.leave("g", [LeaveMember(ids[0])])
        assert await manager.expire_offsets(now) == 0
        assert await manager.expire_offsets(now + 2 * day_ms) == 1
        assert manager.groups == {}
        await manager.stop()
        again = await started(tmp_path, offsets_retention_ms=day_ms)
        try:
            assert again.groups == {}
        finally:
            await again.stop()

    asyncio.run(main())


def test_a_static_member_rejoins_without_rebalance_after_a_broker_restart(tmp_path):
    async def main():
        manager = await started(tmp_path)
        joined = await manager.join(join_req(instance="i-1", session_ms=6_000))
        await manager.sync(SyncRequest(group_id="g", generation_id=1, member_id=joined.member_id,
                                       assignments={joined.member_id: b"P"}))
        await manager.stop()
        again = await started(tmp_path)
        try:
            back = await again.join(join_req(instance="i-1", session_ms=6_000))
            assert (back.error, back.generation_id) == (ErrorCode.NONE, 1)
            assert back.member_id != joined.member_id
            synced = await again.sync(SyncRequest(group_id="g", generation_id=1,
                                                  member_id=back.member_id,
                                                  group_instance_id="i-1"))
            assert synced.assignment == b"P" and again.probe.rebalances == 0
        finally:
            await again.stop()

    asyncio.run(main())


def test_only_the_owner_shard_answers_for_a_group():
    from panda.services.kafka.groups.coordinator import GroupCoordinator, coordinator_shard

    async def main():
        coordinator = GroupCoordinator()
        coordinator.shard, coordinator.smp = 0, 2
        foreign = next(g for g in (f"g{i}" for i in range(100)) if coordinator_shard(g, 2) == 1)
        result = await coordinator.join_group(join_req(group_id=foreign))
        beat = await coordinator.heartbeat(HeartbeatRequest(group_id=foreign, generation_id=1,
                                                            member_id="m"))
        return result.error, beat

    assert asyncio.run(main()) == (ErrorCode.NOT_COORDINATOR, ErrorCode.NOT_COORDINATOR)
    spread = {coordinator_shard(f"group-{i}", 4) for i in range(64)}
    assert spread == {0, 1, 2, 3}


def test_refused_and_abandoned_joins_leave_no_group_behind(tmp_path):
    async def main():
        clock = ManualClock()
        manager = await started(tmp_path, clock)
        try:
            for i in range(20):  # e.g. a fuzzer: random group ids, bad timeouts
                bad = await manager.join(join_req(group_id=f"junk-{i}", session_ms=1))
                assert bad.error == ErrorCode.INVALID_SESSION_TIMEOUT
                refused = await manager.commit(CommitRequest(
                    group_id=f"nocommit-{i}", generation_id=3, member_id="m",
                    offsets=[OffsetEntry("t", 0, 1)]))
                assert refused.partitions[0].error == ErrorCode.UNKNOWN_MEMBER_ID
            pending = await manager.join(join_req(group_id="abandoned", session_ms=1_000))
            assert pending.error == ErrorCode.MEMBER_ID_REQUIRED
            assert set(manager.groups) == {"abandoned"}
            clock.advance(1_200)  # the pending member id expires with its session
            await until(lambda: manager.groups == {})
        finally:
            await manager.stop()

    asyncio.run(main())


def test_offset_expiry_runs_on_its_own_every_check_interval(tmp_path):
    async def main():
        clock = ManualClock()
        manager = await started(tmp_path, clock, offsets_retention_ms=60_000,
                                offsets_retention_check_ms=10_000)
        try:
            await manager.commit(CommitRequest(group_id="solo", offsets=[OffsetEntry("t", 0, 1)]))
            clock.advance(50_000)  # a pass runs: the offset is younger than its retention
            await until(lambda: clock.pending() == 1)  # the pass ended and armed the next one
            assert "solo" in manager.groups
            clock.advance(20_000)
            await until(lambda: "solo" not in manager.groups)
        finally:
            await manager.stop()
        assert clock.pending() == 0

    asyncio.run(main())


def test_manual_clock_runs_due_timers_in_deadline_order_at_their_deadline():
    clock = ManualClock(monotonic_ms=100, wall_ms=5_000)
    seen: list[tuple[str, int]] = []
    clock.call_later(30, lambda: seen.append(("b", clock.monotonic_ms())))
    clock.call_later(10, lambda: seen.append(("a", clock.monotonic_ms())))
    clock.call_later(50, lambda: seen.append(("late", clock.monotonic_ms())))
    clock.call_later(20, lambda: seen.append(("cancelled", 0))).cancel()
    clock.advance(40)
    assert seen == [("a", 110), ("b", 130)]
    assert (clock.monotonic_ms(), clock.wall_ms(), clock.pending()) == (140, 5_040, 1)
