"""The classic rebalance protocol, one group at a time, under a hand-driven clock: no sockets,
no shards, no disk. Each test reads as a transcript of what clients send and what they get."""

from __future__ import annotations

import itertools

import pytest

from panda.net.kafka import ErrorCode
from panda.services.kafka.groups.calls import (
    CommitRequest,
    HeartbeatRequest,
    JoinRequest,
    JoinResult,
    LeaveMember,
    OffsetEntry,
    Parked,
    Protocol,
    SyncRequest,
    SyncResult,
    TopicPartition,
)
from panda.services.kafka.groups.group import (
    COMPLETING,
    DEAD,
    EMPTY,
    PREPARING,
    STABLE,
    Group,
    GroupConfig,
)

SESSION_MS = 10_000
REBALANCE_MS = 30_000


def new_group(**config) -> Group:
    ids = itertools.count(1)
    return Group("g", GroupConfig(**config), new_id=lambda: str(next(ids)))


def join_req(member_id: str = "", instance: str | None = None, protocols=("range",),
             session_ms: int = SESSION_MS, rebalance_ms: int = REBALANCE_MS, **kw) -> JoinRequest:
    return JoinRequest(group_id="g", member_id=member_id, group_instance_id=instance,
                       client_id="c", session_timeout_ms=session_ms,
                       rebalance_timeout_ms=rebalance_ms, protocol_type="consumer",
                       protocols=[Protocol(p, p.encode()) for p in protocols], **kw)


def deliveries(group: Group) -> dict[tuple[str, str], JoinResult | SyncResult]:
    return {(d.kind, d.member_id): d.result for d in group.take_outbox()}


def member_id_for(group: Group, now: int = 0, **kw) -> str:
    """KIP-394: the first JoinGroup only hands out a member id."""
    first = group.join(join_req(**kw), now)
    assert isinstance(first, JoinResult) and first.error == ErrorCode.MEMBER_ID_REQUIRED
    return first.member_id


def stable_group(n: int, now: int = 0) -> tuple[Group, list[str]]:
    """A Stable group of n dynamic members at generation 1; member 0 leads."""
    group = new_group()
    ids = [member_id_for(group, now) for _ in range(n)]
    for mid in ids:
        assert group.join(join_req(mid), now) == Parked(mid)
    joined = deliveries(group)
    leader = joined[("join", ids[0])]
    assert leader.generation_id == 1 and leader.leader == ids[0]
    assert sorted(m.member_id for m in leader.members) == sorted(ids)
    for mid in ids[1:]:
        request = SyncRequest(group_id="g", generation_id=1, member_id=mid)
        assert group.sync(request, now) == Parked(mid)
    assignments = {mid: f"a-{mid}".encode() for mid in ids}
    group.sync(SyncRequest(group_id="g", generation_id=1, member_id=ids[0],
                           assignments=assignments), now)
    synced = deliveries(group)
    assert {k[1]: v.assignment for k, v in synced.items()} == assignments
    assert group.state is STABLE
    return group, ids


def hb(group: Group, mid: str, generation: int, now: int, instance: str | None = None) -> ErrorCode:
    return group.heartbeat(HeartbeatRequest(group_id="g", generation_id=generation,
                                            member_id=mid, group_instance_id=instance), now)


def test_first_join_without_member_id_gets_member_id_required_then_a_generation():
    group = new_group()
    mid = member_id_for(group)
    assert mid.startswith("c-") and group.state is EMPTY and mid in group.pending_members
    assert group.join(join_req(mid), 0) == Parked(mid)
    result = deliveries(group)[("join", mid)]
    assert (result.error, result.generation_id, result.leader, result.protocol_name) == (
        0, 1, mid, "range")
    assert [m.member_id for m in result.members] == [mid]
    assert group.state is COMPLETING


def test_old_clients_join_without_member_id_required():
    group = new_group()
    outcome = group.join(join_req(require_known_member_id=False), 0)
    assert isinstance(outcome, Parked)
    assert deliveries(group)[("join", outcome.member_id)].generation_id == 1


def test_join_sync_heartbeat_three_members():
    group, ids = stable_group(3)
    assert all(hb(group, mid, 1, 100) == ErrorCode.NONE for mid in ids)
    assert group.sync(SyncRequest(group_id="g", generation_id=1, member_id=ids[2]), 200) == \
        SyncResult(protocol_type="consumer", protocol_name="range",
                   assignment=f"a-{ids[2]}".encode())


def test_new_member_triggers_rebalance_that_waits_for_everyone():
    group, ids = stable_group(2)
    newcomer = member_id_for(group, 1_000)
    assert group.join(join_req(newcomer), 1_000) == Parked(newcomer)
    assert group.state is PREPARING
    assert hb(group, ids[0], 1, 1_100) == ErrorCode.REBALANCE_IN_PROGRESS
    assert group.join(join_req(ids[0]), 1_200) == Parked(ids[0])
    assert deliveries(group) == {}  # ids[1] has not rejoined yet
    group.join(join_req(ids[1]), 1_300)
    joined = deliveries(group)
    assert {r.generation_id for r in joined.values()} == {2} and len(joined) == 3
    assert len(joined[("join", ids[0])].members) == 3 and joined[("join", ids[1])].members == []


def test_sync_before_leader_waits_and_errors_on_generation_or_member():
    group = new_group()
    a, b = member_id_for(group), member_id_for(group)
    group.join(join_req(a), 0)
    group.join(join_req(b), 0)
    group.take_outbox()
    assert group.sync(SyncRequest(group_id="g", generation_id=1, member_id=b), 0) == Parked(b)
    assert group.sync(SyncRequest(group_id="g", generation_id=7, member_id=a), 0).error == \
        ErrorCode.ILLEGAL_GENERATION
    assert group.sync(SyncRequest(group_id="g", generation_id=1, member_id="x"), 0).error == \
        ErrorCode.UNKNOWN_MEMBER_ID
    assert group.sync(SyncRequest(group_id="g", generation_id=1, member_id=a,
                                  protocol_name="roundrobin"), 0).error == \
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    group.sync(SyncRequest(group_id="g", generation_id=1, member_id=a,
                           assignments={a: b"A"}), 0)
    out = deliveries(group)
    assert out[("sync", a)].assignment == b"A" and out[("sync", b)].assignment == b""


def test_generation_checks_on_heartbeat():
    group, ids = stable_group(1)
    assert hb(group, ids[0], 0, 10) == ErrorCode.ILLEGAL_GENERATION
    assert hb(group, "nobody", 1, 10) == ErrorCode.UNKNOWN_MEMBER_ID
    assert hb(group, ids[0], 1, 10) == ErrorCode.NONE


def test_leave_rebalances_the_rest_and_last_leave_empties_the_group():
    group, ids = stable_group(2)
    [result] = group.leave([LeaveMember(ids[1])], 500)
    assert result.error == ErrorCode.NONE and group.state is PREPARING
    group.join(join_req(ids[0]), 600)
    joined = deliveries(group)
    assert joined[("join", ids[0])].generation_id == 2 and group.state is COMPLETING
    group.leave([LeaveMember(ids[0])], 700)
    assert group.state is EMPTY and group.generation == 3 and group.dirty
    assert group.leave([LeaveMember(ids[0])], 800)[0].error == ErrorCode.UNKNOWN_MEMBER_ID


def test_leave_answers_a_parked_join_with_unknown_member():
    group, ids = stable_group(2)
    group.join(join_req(ids[0]), 100)  # leader rejoins: rebalance
    group.leave([LeaveMember(ids[0])], 200)
    out = deliveries(group)
    assert out[("join", ids[0])].error == ErrorCode.UNKNOWN_MEMBER_ID


def test_rebalance_timeout_evicts_a_silent_member():
    group, ids = stable_group(3)
    joiner = member_id_for(group, 1_000)
    group.join(join_req(joiner), 1_000)
    group.join(join_req(ids[0]), 1_000)
    group.join(join_req(ids[1]), 1_000)
    for t in range(1_000, 1_000 + REBALANCE_MS, 1_000):  # ids[2] heartbeats but never rejoins
        assert hb(group, ids[2], 1, t) == ErrorCode.REBALANCE_IN_PROGRESS
        group.tick(t)
    assert group.state is PREPARING and group.next_deadline_ms() <= 1_000 + REBALANCE_MS
    group.tick(1_000 + REBALANCE_MS)
    joined = deliveries(group)
    assert {k[1] for k in joined} == {joiner, ids[0], ids[1]}
    assert ids[2] not in group.members and group.generation == 2 and group.state is COMPLETING
    assert hb(group, ids[2], 1, 1_000 + REBALANCE_MS) == ErrorCode.UNKNOWN_MEMBER_ID


def test_session_timeout_removes_a_member_and_rebalances():
    group, ids = stable_group(2)
    for t in range(0, SESSION_MS, 2_000):
        assert hb(group, ids[0], 1, t) == ErrorCode.NONE
        group.tick(t)
    assert group.next_deadline_ms() == SESSION_MS  # ids[1] last heard of at 0
    group.tick(SESSION_MS)
    assert ids[1] not in group.members and group.state is PREPARING
    assert hb(group, ids[0], 1, SESSION_MS) == ErrorCode.REBALANCE_IN_PROGRESS
    group.join(join_req(ids[0]), SESSION_MS + 1)
    assert deliveries(group)[("join", ids[0])].generation_id == 2


def test_members_with_parked_requests_do_not_expire_but_unsynced_ones_do():
    group = new_group()
    a = member_id_for(group)
    group.join(join_req(a), 0)
    group.take_outbox()  # generation 1; a heartbeats but never sends SyncGroup
    for t in range(0, REBALANCE_MS, 2_000):
        assert hb(group, a, 1, t) == ErrorCode.NONE
        group.tick(t)
    group.tick(REBALANCE_MS - 1)
    assert a in group.members
    group.tick(REBALANCE_MS)
    assert a not in group.members and group.state is EMPTY


def test_pending_member_id_expires_after_the_session_timeout():
    group = new_group()
    member_id_for(group, 0)
    assert group.next_deadline_ms() == SESSION_MS
    group.tick(SESSION_MS)
    assert group.is_empty()


def test_invalid_session_timeout_and_inconsistent_protocols():
    group, _ids = stable_group(1)
    assert group.join(join_req(session_ms=10), 0).error == ErrorCode.INVALID_SESSION_TIMEOUT
    assert group.join(join_req(protocols=("other",)), 0).error == \
        ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert group.join(join_req(protocols=()), 0).error == ErrorCode.INCONSISTENT_GROUP_PROTOCOL


def test_protocol_selection_prefers_what_most_members_prefer_among_common_ones():
    group = new_group()
    prefs = [("sticky", "range"), ("range", "sticky"), ("range", "sticky", "roundrobin")]
    ids = [member_id_for(group) for _ in prefs]
    for mid, p in zip(ids, prefs):
        group.join(join_req(mid, protocols=p), 0)
    assert {r.protocol_name for r in deliveries(group).values()} == {"range"}


def two_static_members() -> tuple[Group, Parked, Parked]:
    """Two static members joined into generation 1 (an initial delay gathers them)."""
    group = new_group(initial_rebalance_delay_ms=100)
    first = group.join(join_req(instance="i-1"), 0)  # static members skip MEMBER_ID_REQUIRED
    assert isinstance(first, Parked) and first.member_id.startswith("i-1-")
    second = group.join(join_req(instance="i-2"), 0)
    group.tick(100)
    return group, first, second


def test_static_member_rejoin_with_new_id_keeps_the_generation_without_rebalance():
    group, first, second = two_static_members()
    old = {d.member_id: d.result for d in group.take_outbox()}
    assert {r.generation_id for r in old.values()} == {1}
    group.sync(SyncRequest(group_id="g", generation_id=1, member_id=first.member_id,
                           assignments={first.member_id: b"P0", second.member_id: b"P1"}), 0)
    group.take_outbox()
    group.dirty = False
    # i-2 restarts: it lost its member id, comes back within the session timeout
    back = group.join(join_req(instance="i-2"), 5_000)
    assert isinstance(back, JoinResult) and back.error == ErrorCode.NONE
    assert back.generation_id == 1 and back.member_id != second.member_id
    assert back.leader == first.member_id and back.members == []
    assert group.state is STABLE and group.dirty
    sync = group.sync(SyncRequest(group_id="g", generation_id=1, member_id=back.member_id,
                                  group_instance_id="i-2"), 5_001)
    assert sync.assignment == b"P1"
    # the old incarnation is fenced
    assert hb(group, second.member_id, 1, 5_002, instance="i-2") == ErrorCode.FENCED_INSTANCE_ID
    assert group.leave([LeaveMember(second.member_id, "i-2")], 5_003)[0].error == \
        ErrorCode.FENCED_INSTANCE_ID


def test_static_leader_rejoin_gets_skip_assignment_on_v9():
    group = new_group()
    leader = group.join(join_req(instance="i-1"), 0)
    group.take_outbox()
    group.sync(SyncRequest(group_id="g", generation_id=1, member_id=leader.member_id,
                           assignments={leader.member_id: b"P"}), 0)
    group.take_outbox()
    back = group.join(join_req(instance="i-1", supports_skip_assignment=True), 10)
    assert back.skip_assignment and back.leader == back.member_id and len(back.members) == 1
    assert group.state is STABLE and group.generation == 1


def test_static_member_removed_by_batch_leave_with_instance_id():
    group, a, b = two_static_members()
    group.take_outbox()
    leaving = [LeaveMember("", "i-1"), LeaveMember("", "i-9"), LeaveMember(b.member_id, "i-2")]
    results = group.leave(leaving, 10)
    assert [r.error for r in results] == [ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID,
                                          ErrorCode.NONE]
    assert a.member_id not in group.members and group.state is EMPTY


def test_static_rejoin_during_completing_rebalance_fences_the_old_parked_sync():
    group, a, b = two_static_members()
    group.take_outbox()
    assert group.sync(SyncRequest(group_id="g", generation_id=1, member_id=b.member_id), 0) == \
        Parked(b.member_id)
    again = group.join(join_req(instance="i-2"), 100)
    assert isinstance(again, Parked)
    out = deliveries(group)
    assert out[("sync", b.member_id)].error == ErrorCode.FENCED_INSTANCE_ID
    assert group.state is PREPARING
    group.join(join_req(a.member_id, instance="i-1"), 200)
    assert deliveries(group)[("join", again.member_id)].generation_id == 2


def test_commits_need_the_current_generation_unless_the_group_is_empty():
    group, ids = stable_group(2)
    commit = CommitRequest(group_id="g", generation_id=1, member_id=ids[0])
    assert group.commit_error(commit, 0) == ErrorCode.NONE
    assert group.commit_error(CommitRequest(group_id="g", generation_id=0, member_id=ids[0]), 0) \
        == ErrorCode.ILLEGAL_GENERATION
    assert group.commit_error(CommitRequest(group_id="g", generation_id=1, member_id="x"), 0) \
        == ErrorCode.UNKNOWN_MEMBER_ID
    assert group.commit_error(CommitRequest(group_id="g"), 0) == ErrorCode.UNKNOWN_MEMBER_ID
    group.join(join_req(ids[0]), 10)
    group.join(join_req(ids[1]), 10)
    assert group.state is COMPLETING
    assert group.commit_error(CommitRequest(group_id="g", generation_id=2, member_id=ids[0]), 10) \
        == ErrorCode.REBALANCE_IN_PROGRESS
    assert new_group().commit_error(CommitRequest(group_id="g"), 0) == ErrorCode.NONE


def test_offsets_fetch_and_delete():
    group = new_group()
    group.offsets.apply(OffsetEntry("t", 0, 42, metadata="m"))
    fetched = group.offsets.fetch([TopicPartition("t", 0), TopicPartition("t", 1)])
    assert [(e.offset, e.metadata) for e in fetched] == [(42, "m"), (-1, "")]
    assert [e.partition for e in group.offsets.fetch(None)] == [0]
    assert group.offset_error(OffsetEntry("t", 0, 1, metadata="x" * 5000)) == \
        ErrorCode.OFFSET_METADATA_TOO_LARGE
    error, parts = group.offset_delete_errors([TopicPartition("t", 0)])
    assert error == ErrorCode.NONE and parts[0].error == ErrorCode.NONE


def test_offset_delete_refuses_topics_a_live_consumer_group_subscribes_to():
    from panda.net.kafka import encode_body, messages

    metadata = b"\x00\x01" + bytes(encode_body(
        "ConsumerProtocolSubscription", 1, messages.ConsumerProtocolSubscription(topics=["t"])))
    group = new_group()
    mid = member_id_for(group)
    req = join_req(mid)
    req.protocols = [Protocol("range", metadata)]
    group.join(req, 0)
    error, parts = group.offset_delete_errors([TopicPartition("t", 0), TopicPartition("u", 0)])
    assert error == ErrorCode.NONE
    assert [p.error for p in parts] == [ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ErrorCode.NONE]


def test_delete_only_empty_groups_and_dead_groups_refuse_everything():
    group, _ids = stable_group(1)
    assert group.delete_error() == ErrorCode.NON_EMPTY_GROUP
    empty = new_group()
    assert empty.delete_error() == ErrorCode.NONE
    empty.mark_dead()
    assert empty.state is DEAD and empty.delete_error() == ErrorCode.GROUP_ID_NOT_FOUND
    assert empty.join(join_req(), 0).error == ErrorCode.COORDINATOR_NOT_AVAILABLE


def test_initial_rebalance_delay_gathers_early_joiners_into_one_generation():
    group = new_group(initial_rebalance_delay_ms=300)
    a = group.join(join_req(require_known_member_id=False), 0)
    assert deliveries(group) == {}
    b = group.join(join_req(require_known_member_id=False), 200)
    group.tick(300)
    assert deliveries(group) == {}  # the delay restarted at 200
    group.tick(500)
    joined = deliveries(group)
    assert {k[1] for k in joined} == {a.member_id, b.member_id}
    assert {r.generation_id for r in joined.values()} == {1}


def test_snapshot_restore_round_trip_recovers_a_stable_group():
    group, ids = stable_group(2)
    restored = new_group()
    restored.restore(group.snapshot(), 50_000)
    assert restored.state is STABLE and restored.generation == 1 and restored.leader == ids[0]
    assert hb(restored, ids[1], 1, 50_001) == ErrorCode.NONE
    assert restored.sync(SyncRequest(group_id="g", generation_id=1, member_id=ids[1]),
                         50_002).assignment == f"a-{ids[1]}".encode()
    restored.tick(50_000 + SESSION_MS)  # ids[0] never came back
    assert ids[0] not in restored.members and restored.state is PREPARING


@pytest.mark.parametrize("members", [1, 5])
def test_describe_shows_members_and_assignment_only_when_stable(members):
    group, ids = stable_group(members)
    described = group.describe()
    assert described.state == "Stable" and described.protocol_data == "range"
    assert [m.assignment for m in described.members] == [f"a-{mid}".encode() for mid in ids]
    group.join(join_req(ids[0]), 1)
    described = group.describe()
    assert described.state != "Stable" and described.members[0].assignment == b""


def test_the_next_deadline_is_never_in_the_past_while_waiting():
    """A timer armed for a past deadline would spin: after every event, the next deadline
    lies ahead of the clock (or there is none)."""
    group, ids = stable_group(3)
    now = 100
    newcomer = member_id_for(group, now)
    group.join(join_req(newcomer), now)  # PreparingRebalance, waiting for ids[*]
    for t in (now, now + 1, now + 5_000):
        group.tick(t)
        hb(group, ids[0], 1, t)
        assert group.next_deadline_ms() > t
    delayed = new_group(initial_rebalance_delay_ms=300)
    delayed.join(join_req(require_known_member_id=False), 0)
    assert delayed.next_deadline_ms() == 300
    delayed.tick(300)
    assert delayed.state is COMPLETING and delayed.next_deadline_ms() > 300


def test_a_full_group_refuses_newcomers_but_not_a_returning_static_member():
    group = new_group(members_max=2, initial_rebalance_delay_ms=100)
    group.join(join_req(instance="i-1"), 0)
    group.join(join_req(instance="i-2"), 0)
    group.tick(100)
    assert group.join(join_req(instance="i-3"), 200).error == ErrorCode.GROUP_MAX_SIZE_REACHED
    assert group.join(join_req(), 200).error == ErrorCode.GROUP_MAX_SIZE_REACHED
    assert isinstance(group.join(join_req(instance="i-2"), 200), Parked)  # CompletingRebalance


def test_a_pending_member_that_never_returns_does_not_disturb_a_stable_group():
    group, ids = stable_group(2)
    ghost = member_id_for(group, 1_000)  # got MEMBER_ID_REQUIRED, never joins again
    hb(group, ids[0], 1, 1_000 + SESSION_MS)
    hb(group, ids[1], 1, 1_000 + SESSION_MS)
    group.tick(1_000 + SESSION_MS)
    assert ghost not in group.pending_members and group.state is STABLE
    other = member_id_for(group, 20_000)
    assert group.leave([LeaveMember(other)], 20_001)[0].error == ErrorCode.NONE
    assert group.state is STABLE and group.generation == 1


def test_a_static_members_old_incarnation_cannot_commit():
    group = new_group()
    first = group.join(join_req(instance="i-1"), 0)
    group.take_outbox()
    group.sync(SyncRequest(group_id="g", generation_id=1, member_id=first.member_id,
                           assignments={first.member_id: b"P"}), 0)
    back = group.join(join_req(instance="i-1"), 10)  # restarted: a new member id
    stale = CommitRequest(group_id="g", generation_id=1, member_id=first.member_id,
                          group_instance_id="i-1")
    assert group.commit_error(stale, 20) == ErrorCode.FENCED_INSTANCE_ID
    fresh = CommitRequest(group_id="g", generation_id=1, member_id=back.member_id,
                          group_instance_id="i-1")
    assert group.commit_error(fresh, 20) == ErrorCode.NONE
