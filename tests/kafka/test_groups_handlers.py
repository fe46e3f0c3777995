"""The group APIs version by version, without sockets or shards: each request is encoded and
decoded at its version (so it carries exactly what a client of that version sends), handled
by the registered handler against a real coordinator on a temporary directory, and its
response encoded and decoded at the same version (so nothing the version cannot carry slips
through). A group lives its whole life at each protocol level."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from panda.net.kafka import (
    ErrorCode,
    RequestHeader,
    ResponseHeader,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    messages,
)
from panda.services.kafka.api import group_admin, group_membership, group_offsets
from panda.services.kafka.api.context import RequestContext
from panda.services.kafka.api.registry import API_HANDLERS
from panda.services.kafka.groups.coordinator import GroupCoordinator
from panda.services.kafka.groups.group_manager import GroupManager

FIND_COORDINATOR, JOIN, HEARTBEAT, LEAVE, SYNC, DESCRIBE, LIST = 10, 11, 12, 13, 14, 15, 16
COMMIT, FETCH, DELETE_GROUPS, OFFSET_DELETE = 8, 9, 42, 47
PORT = 19092


def mod(name: str):
    return messages.module(name)


class FakeRef:
    """runtime.service(GroupCoordinator) on a one-shard node, without the runtime."""

    def __init__(self, coordinator: GroupCoordinator) -> None:
        self.coordinator = coordinator

    def on(self, shard: int) -> GroupCoordinator:
        assert shard == 0
        return self.coordinator

    async def map_reduce(self, method: str, reducer, *args):
        return reducer([await getattr(self.coordinator, method)(*args)])


@pytest.fixture
def api(tmp_path, monkeypatch):
    """`await api(api_key, version, body)` -> decoded response; runs inside one event loop."""
    coordinator = GroupCoordinator()
    coordinator.shard, coordinator.smp = 0, 1
    ref = FakeRef(coordinator)
    monkeypatch.setattr(group_membership, "coordinator_of", lambda group_id, smp: coordinator)
    monkeypatch.setattr(group_offsets, "coordinator_of", lambda group_id, smp: coordinator)
    monkeypatch.setattr(group_admin, "runtime", SimpleNamespace(service=lambda cls: ref))
    ctx = RequestContext(shard=0, smp=1, node_id=0, advertised_host="127.0.0.1",
                         advertised_port=PORT, data_dir=str(tmp_path), client_id="cli",
                         config=None, peer="127.0.0.1:5555")

    async def call(api_key: int, version: int, body):
        frame = encode_request(RequestHeader(request_api_key=api_key, request_api_version=version,
                                             correlation_id=7, client_id="cli"), body)
        header, decoded, _ = decode_request(bytes(frame))
        response = await API_HANDLERS[api_key].handler(ctx, header, decoded)
        out = encode_response(ResponseHeader(correlation_id=7), response, api_key, version)
        return decode_response(bytes(out), api_key, version)[1]

    async def start() -> None:
        coordinator.manager = await GroupManager(str(tmp_path), 0, direct_io=False).start()

    call.start = start  # type: ignore[attr-defined]
    call.stop = lambda: coordinator.manager.stop()  # type: ignore[attr-defined]
    return call


def level(api_key: int, wanted: int) -> int:
    """The version of api_key a client at protocol level `wanted` would use."""
    lo, hi = API_HANDLERS[api_key].min_version, API_HANDLERS[api_key].max_version
    return max(lo, min(wanted, hi))


@pytest.mark.parametrize("version", range(API_HANDLERS[FIND_COORDINATOR].max_version + 1))
def test_find_coordinator_names_this_node(api, version):
    req = messages.FindCoordinatorRequest(key="g", key_type=0, coordinator_keys=["g", "h"])
    response = asyncio.run(api(FIND_COORDINATOR, version, req))
    if version >= 4:
        assert [(c.key, c.node_id, c.host, c.port, c.error_code)
                for c in response.coordinators] == [("g", 0, "127.0.0.1", PORT, 0),
                                                    ("h", 0, "127.0.0.1", PORT, 0)]
    else:
        assert (response.error_code, response.node_id, response.host, response.port) == (
            0, 0, "127.0.0.1", PORT)


@pytest.mark.parametrize("lvl", range(API_HANDLERS[JOIN].max_version + 1))
def test_group_lifecycle_at_each_protocol_level(api, lvl):
    asyncio.run(_lifecycle(api, lvl))


async def _lifecycle(api, lvl: int) -> None:
    await api.start()
    try:
        member, generation = await _join(api, lvl)
        await _sync_and_heartbeat(api, lvl, member, generation)
        await _commit_and_fetch(api, lvl, member, generation)
        await _describe_and_list(api, lvl, member)
        await _leave_and_delete(api, lvl, member)
    finally:
        await api.stop()


async def _join(api, lvl: int) -> tuple[str, int]:
    join = mod("JoinGroupRequest")
    version = level(JOIN, lvl)
    req = join.JoinGroupRequest(group_id="g", session_timeout_ms=6000, rebalance_timeout_ms=6000,
                                member_id="", protocol_type="consumer",
                                protocols=[join.JoinGroupRequestProtocol("range", b"meta")])
    response = await api(JOIN, version, req)
    if version >= 4:
        assert response.error_code == ErrorCode.MEMBER_ID_REQUIRED
        req.member_id = response.member_id
        response = await api(JOIN, version, req)
    assert response.error_code == 0 and response.generation_id == 1
    assert response.leader == response.member_id and response.protocol_name == "range"
    assert [(m.member_id, m.metadata) for m in response.members] == [(response.member_id, b"meta")]
    return response.member_id, response.generation_id


async def _sync_and_heartbeat(api, lvl: int, member: str, generation: int) -> None:
    sync = mod("SyncGroupRequest")
    req = sync.SyncGroupRequest(group_id="g", generation_id=generation, member_id=member,
                                protocol_type="consumer", protocol_name="range",
                                assignments=[sync.SyncGroupRequestAssignment(member, b"mine")])
    response = await api(SYNC, level(SYNC, lvl), req)
    assert (response.error_code, response.assignment) == (0, b"mine")
    beat = messages.HeartbeatRequest(group_id="g", generation_id=generation, member_id=member)
    assert (await api(HEARTBEAT, level(HEARTBEAT, lvl), beat)).error_code == 0
    beat.generation_id = generation + 5
    assert (await api(HEARTBEAT, level(HEARTBEAT, lvl), beat)).error_code == \
        ErrorCode.ILLEGAL_GENERATION


async def _commit_and_fetch(api, lvl: int, member: str, generation: int) -> None:
    commit = mod("OffsetCommitRequest")
    version = level(COMMIT, lvl)
    req = commit.OffsetCommitRequest(
        group_id="g", generation_id_or_member_epoch=generation, member_id=member,
        topics=[commit.OffsetCommitRequestTopic("t", [
            commit.OffsetCommitRequestPartition(0, 42, committed_metadata="m"),
            commit.OffsetCommitRequestPartition(1, 7)])])
    response = await api(COMMIT, version, req)
    expected = 0 if version >= 1 else ErrorCode.UNKNOWN_MEMBER_ID  # v0 carries no member
    assert [(t.name, [(p.partition_index, p.error_code) for p in t.partitions])
            for t in response.topics] == [("t", [(0, expected), (1, expected)])]
    if version == 0:  # commit as a v1 client would, so there is something to fetch
        await api(COMMIT, 1, req)
    fetched = await _fetch(api, level(FETCH, lvl), [0, 1, 2])
    assert fetched == [(0, 42, "m"), (1, 7, ""), (2, -1, "")]


async def _fetch(api, version: int, partitions: list[int]) -> list[tuple[int, int, str]]:
    fetch = mod("OffsetFetchRequest")
    if version >= 8:
        req = fetch.OffsetFetchRequest(groups=[fetch.OffsetFetchRequestGroup(
            group_id="g", topics=[fetch.OffsetFetchRequestTopics("t", partitions)])])
        response = await api(FETCH, version, req)
        [group] = response.groups
        assert group.error_code == 0
        topics = group.topics
    else:
        req = fetch.OffsetFetchRequest(group_id="g",
                                       topics=[fetch.OffsetFetchRequestTopic("t", partitions)])
        topics = (await api(FETCH, version, req)).topics
    return [(p.partition_index, p.committed_offset, p.metadata or "")
            for t in topics for p in t.partitions]


async def _describe_and_list(api, lvl: int, member: str) -> None:
    req = messages.DescribeGroupsRequest(groups=["g", "nobody"])
    described = (await api(DESCRIBE, level(DESCRIBE, lvl), req)).groups
    assert [(g.group_id, g.error_code, g.group_state) for g in described] == [
        ("g", 0, "Stable"), ("nobody", 0, "Dead")]
    assert [(m.member_id, m.client_id, m.client_host, m.member_assignment)
            for m in described[0].members] == [(member, "cli", "/127.0.0.1", b"mine")]
    listed = (await api(LIST, level(LIST, lvl), messages.ListGroupsRequest())).groups
    assert [(g.group_id, g.protocol_type) for g in listed] == [("g", "consumer")]


async def _leave_and_delete(api, lvl: int, member: str) -> None:
    leave = mod("LeaveGroupRequest")
    version = level(LEAVE, lvl)
    req = leave.LeaveGroupRequest(group_id="g", member_id=member,
                                  members=[leave.MemberIdentity(member_id=member)])
    delete = messages.DeleteGroupsRequest(groups_names=["g"])
    [result] = (await api(DELETE_GROUPS, level(DELETE_GROUPS, lvl), delete)).results
    assert result.error_code == ErrorCode.NON_EMPTY_GROUP
    response = await api(LEAVE, version, req)
    assert response.error_code == 0
    if version >= 3:
        assert [(m.member_id, m.error_code) for m in response.members] == [(member, 0)]
    od = mod("OffsetDeleteRequest")
    response = await api(OFFSET_DELETE, 0, od.OffsetDeleteRequest(group_id="g", topics=[
        od.OffsetDeleteRequestTopic("t", [od.OffsetDeleteRequestPartition(1)])]))
    assert response.error_code == 0 and response.topics[0].partitions[0].error_code == 0
    assert await _fetch(api, level(FETCH, lvl), [0, 1]) == [(0, 42, "m"), (1, -1, "")]
    [result] = (await api(DELETE_GROUPS, level(DELETE_GROUPS, lvl), delete)).results
    assert (result.group_id, result.error_code) == ("g", 0)
    [result] = (await api(DELETE_GROUPS, level(DELETE_GROUPS, lvl), delete)).results
    assert result.error_code == ErrorCode.GROUP_ID_NOT_FOUND


def test_empty_group_id_is_invalid(api):
    async def main():
        await api.start()
        try:
            join = mod("JoinGroupRequest")
            req = join.JoinGroupRequest(group_id="", session_timeout_ms=6000,
                                        protocol_type="consumer",
                                        protocols=[join.JoinGroupRequestProtocol("range", b"")])
            assert (await api(JOIN, 5, req)).error_code == ErrorCode.INVALID_GROUP_ID
            beat = messages.HeartbeatRequest(group_id="", generation_id=1, member_id="m")
            assert (await api(HEARTBEAT, 3, beat)).error_code == ErrorCode.INVALID_GROUP_ID
        finally:
            await api.stop()

    asyncio.run(main())
