"""The coordinator's asyncio edge on one shard, with a real __consumer_offsets log on disk:
parked JoinGroup/SyncGroup long polls, timers, durable commits and recovery on restart."""

from __future__ import annotations

import asyncio

import pytest

from panda.services.kafka.groups.calls import (
    CommitRequest,
    FetchRequest,
    HeartbeatRequest,
    JoinRequest,
    LeaveMember,
    OffsetEntry,
    Protocol,
    SyncRequest,
    TopicPartition,
)
from panda.services.kafka.groups.config import GroupConfig
from panda.services.kafka.groups.errors import CoordinatorStopped, Errc
from panda.services.kafka.groups.group_manager import GroupManager, wall_ms


def join_req(member_id: str = "", instance: str | None = None, session_ms: int = 1_000,
             group_id: str = "g") -> JoinRequest:
    return JoinRequest(group_id=group_id, member_id=member_id, group_instance_id=instance,
                       client_id="c", session_timeout_ms=session_ms, rebalance_timeout_ms=2_000,
                       protocol_type="consumer", protocols=[Protocol("range", b"m")])


async def started(path, **config) -> GroupManager:
    return await GroupManager(str(path), 0, GroupConfig(**config), direct_io=False).start()


async def join_stable(manager: GroupManager, n: int, group_id: str = "g") -> list[str]:
    """n members join concurrently (KIP-394 round trip included) and sync; returns ids."""
    first = [await manager.join(join_req(group_id=group_id)) for _ in range(n)]
    assert {r.error for r in first} == {Errc.MEMBER_ID_REQUIRED}
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
                    group_id="g", generation_id=1, member_id=mid)) == Errc.NONE
        finally:
            await manager.stop()

    asyncio.run(main())


def test_session_timer_expires_a_silent_member_without_any_request(tmp_path):
    async def main():
        manager = await started(tmp_path)
        try:
            ids = await join_stable(manager, 2)
            for _ in range(8):  # ids[0] heartbeats every 200 ms, ids[1] is silent
                await asyncio.sleep(0.2)
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
            fetched = await again.fetch_offsets(FetchRequest(group_id="g", partitions=[
                TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("t", 2)]))
            assert [(e.offset, e.metadata) for e in fetched.offsets] == [(10, "a"), (20, ""), (-1, "")]
            assert [e.offset for e in (await again.fetch_offsets(
                FetchRequest(group_id="solo"))).offsets] == [5]
            group = again.groups["g"]
            assert group.state.value == "Stable" and group.generation == 1
            assert await again.heartbeat(HeartbeatRequest(group_id="g", generation_id=1,
                                                          member_id=ids[1])) == Errc.NONE
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
        assert await manager.delete_group("g") == Errc.NON_EMPTY_GROUP
        reply = await manager.leave("g", [LeaveMember(ids[0])])
        assert reply.members[0].error == Errc.NONE and manager.groups["g"].state.value == "Empty"
        assert [g.group_id for g in manager.list_groups([], [])] == ["g"]
        assert await manager.delete_group("g") == Errc.NONE
        assert await manager.delete_group("g") == Errc.GROUP_ID_NOT_FOUND
        await manager.stop()
        again = await started(tmp_path)
        try:
            assert "g" not in again.groups
            assert (await again.fetch_offsets(FetchRequest(group_id="g"))).offsets == []
        finally:
            await again.stop()

    asyncio.run(main())


def test_stop_answers_parked_requests(tmp_path):
    async def main():
        manager = await started(tmp_path, initial_rebalance_delay_ms=60_000)
        parked = asyncio.ensure_future(manager.join(join_req(instance="i-1")))
        await asyncio.sleep(0.05)
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
            await asyncio.sleep(0.01)
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
    from panda.services.kafka.groups.group_store import GroupStore
    from panda.services.kafka.groups.records import CommittedOffset, OffsetKey

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
            fetched = await manager.fetch_offsets(FetchRequest(group_id="g"))
        finally:
            await manager.stop()
        return before, len(after), [e.offset for e in fetched.offsets]

    before, after, offsets = asyncio.run(main())
    assert before == 400 and after < 40
    assert offsets == [398, 399]


def test_offsets_of_an_empty_group_expire_after_retention_and_the_group_goes(tmp_path):
    day_ms = 24 * 3_600_000

    async def main():
        manager = await started(tmp_path, offsets_retention_ms=day_ms)
        ids = await join_stable(manager, 1)
        await manager.commit(CommitRequest(group_id="g", generation_id=1, member_id=ids[0],
                                           offsets=[OffsetEntry("t", 0, 3)]))
        await manager.commit(CommitRequest(group_id="solo", offsets=[
            OffsetEntry("t", 0, 1, commit_timestamp_ms=1), OffsetEntry("t", 1, 2)]))
        now = wall_ms()
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
            assert (back.error, back.generation_id) == (Errc.NONE, 1)
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

    assert asyncio.run(main()) == (Errc.NOT_COORDINATOR, Errc.NOT_COORDINATOR)
    spread = {coordinator_shard(f"group-{i}", 4) for i in range(64)}
    assert spread == {0, 1, 2, 3}


def test_refused_and_abandoned_joins_leave_no_group_behind(tmp_path):
    async def main():
        manager = await started(tmp_path)
        try:
            for i in range(20):  # e.g. a fuzzer: random group ids, bad timeouts
                bad = await manager.join(join_req(group_id=f"junk-{i}", session_ms=1))
                assert bad.error == Errc.INVALID_SESSION_TIMEOUT
                refused = await manager.commit(CommitRequest(
                    group_id=f"nocommit-{i}", generation_id=3, member_id="m",
                    offsets=[OffsetEntry("t", 0, 1)]))
                assert refused.partitions[0].error == Errc.UNKNOWN_MEMBER_ID
            pending = await manager.join(join_req(group_id="abandoned", session_ms=1_000))
            assert pending.error == Errc.MEMBER_ID_REQUIRED
            assert set(manager.groups) == {"abandoned"}
            await asyncio.sleep(1.2)  # the pending member id expires with its session
            assert manager.groups == {}
        finally:
            await manager.stop()

    asyncio.run(main())
