"""Kafka API handlers of consumer groups: FindCoordinator and the membership APIs (JoinGroup,
SyncGroup, Heartbeat, LeaveGroup); importing this module registers every group API (the
offset and admin ones live in offset_handlers.py and admin_handlers.py).

Owns translation only: a request becomes a coordinator call on the group's owner shard, its
result becomes the response of the request's version. Never holds group state.
"""

from __future__ import annotations

from typing import Any

from panda import runtime
from panda.net.kafka._generated.find_coordinator_response import (
    Coordinator,
    FindCoordinatorResponse,
)
from panda.net.kafka._generated.heartbeat_response import HeartbeatResponse
from panda.net.kafka._generated.join_group_response import (
    JoinGroupResponse,
    JoinGroupResponseMember,
)
from panda.net.kafka._generated.leave_group_response import LeaveGroupResponse, MemberResponse
from panda.net.kafka._generated.sync_group_response import SyncGroupResponse

from ..handlers import handler
from .calls import HeartbeatRequest, JoinRequest, JoinResult, LeaveMember, SyncRequest
from .coordinator import GroupCoordinator, coordinator_shard
from .errors import SERVICE_ERRORS, Errc, code_for
from .records import Protocol

KEY_TYPE_GROUP = 0
KEY_TYPE_TRANSACTION = 1


def owner(ctx, group_id: str) -> Any:
    """The coordinator instance that owns group_id, as a call proxy."""
    return runtime.service(GroupCoordinator).on(coordinator_shard(group_id, ctx.smp))


def client_host(ctx) -> str:
    """'/127.0.0.1', as Kafka shows a member's host."""
    peer = getattr(ctx, "peer", "") or ""
    host = peer.rsplit(":", 1)[0] if ":" in peer else peer
    return f"/{host.strip('[]')}" if host else ""


# --- FindCoordinator -----------------------------------------------------------------------


@handler(10)
async def find_coordinator(ctx, header, body) -> FindCoordinatorResponse:
    """This node coordinates every group and transaction (single node)."""
    error = Errc.NONE if body.key_type in (KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION) else \
        Errc.INVALID_REQUEST
    if header.request_api_version >= 4:
        return FindCoordinatorResponse(coordinators=[
            Coordinator(key=key, node_id=ctx.node_id, host=ctx.advertised_host,
                        port=ctx.advertised_port, error_code=error, error_message=None)
            for key in body.coordinator_keys])
    return FindCoordinatorResponse(error_code=error, error_message=None, node_id=ctx.node_id,
                                   host=ctx.advertised_host, port=ctx.advertised_port)


# --- JoinGroup -----------------------------------------------------------------------------


@handler(11)
async def join_group(ctx, header, body) -> JoinGroupResponse:
    version = header.request_api_version
    if not body.group_id:
        return _join_response(JoinResult(error=Errc.INVALID_GROUP_ID), version)
    rebalance_ms = body.rebalance_timeout_ms if version >= 1 else body.session_timeout_ms
    req = JoinRequest(
        group_id=body.group_id, member_id=body.member_id,
        group_instance_id=body.group_instance_id, client_id=ctx.client_id or "",
        client_host=client_host(ctx), session_timeout_ms=body.session_timeout_ms,
        rebalance_timeout_ms=rebalance_ms if rebalance_ms >= 0 else body.session_timeout_ms,
        protocol_type=body.protocol_type,
        protocols=[Protocol(p.name, p.metadata) for p in body.protocols],
        require_known_member_id=version >= 4, supports_skip_assignment=version >= 9,
        reason=body.reason)
    try:
        result = await owner(ctx, body.group_id).join_group(req)
    except SERVICE_ERRORS as exc:
        result = JoinResult(error=code_for(exc), member_id=body.member_id)
    return _join_response(result, version)


def _join_response(r: JoinResult, version: int) -> JoinGroupResponse:
    members = [JoinGroupResponseMember(member_id=m.member_id, group_instance_id=m.group_instance_id,
                                       metadata=m.metadata) for m in r.members]
    flexible_names = version >= 7
    return JoinGroupResponse(
        error_code=r.error, generation_id=r.generation_id,
        protocol_type=r.protocol_type if flexible_names else None,
        protocol_name=r.protocol_name if flexible_names else (r.protocol_name or ""),
        leader=r.leader, skip_assignment=r.skip_assignment, member_id=r.member_id,
        members=members)


# --- SyncGroup, Heartbeat ------------------------------------------------------------------


@handler(14)
async def sync_group(ctx, header, body) -> SyncGroupResponse:
    if not body.group_id:
        return SyncGroupResponse(error_code=Errc.INVALID_GROUP_ID)
    req = SyncRequest(group_id=body.group_id, generation_id=body.generation_id,
                      member_id=body.member_id, group_instance_id=body.group_instance_id,
                      protocol_type=body.protocol_type, protocol_name=body.protocol_name,
                      assignments={a.member_id: a.assignment for a in body.assignments})
    try:
        r = await owner(ctx, body.group_id).sync_group(req)
    except SERVICE_ERRORS as exc:
        return SyncGroupResponse(error_code=code_for(exc))
    return SyncGroupResponse(error_code=r.error, protocol_type=r.protocol_type,
                             protocol_name=r.protocol_name, assignment=r.assignment)


@handler(12)
async def heartbeat(ctx, header, body) -> HeartbeatResponse:
    if not body.group_id:
        return HeartbeatResponse(error_code=Errc.INVALID_GROUP_ID)
    req = HeartbeatRequest(group_id=body.group_id, generation_id=body.generation_id,
                           member_id=body.member_id, group_instance_id=body.group_instance_id)
    try:
        error = await owner(ctx, body.group_id).heartbeat(req)
    except SERVICE_ERRORS as exc:
        error = code_for(exc)
    return HeartbeatResponse(error_code=error)


# --- LeaveGroup ----------------------------------------------------------------------------


@handler(13)
async def leave_group(ctx, header, body) -> LeaveGroupResponse:
    """v0-2: one member by id; v3+: a batch, by member id or group.instance.id (KIP-345)."""
    batch = header.request_api_version >= 3
    leaving = [LeaveMember(m.member_id, m.group_instance_id, m.reason) for m in body.members] \
        if batch else [LeaveMember(body.member_id)]
    if not body.group_id:
        return LeaveGroupResponse(error_code=Errc.INVALID_GROUP_ID)
    try:
        reply = await owner(ctx, body.group_id).leave_group(body.group_id, leaving)
    except SERVICE_ERRORS as exc:
        return LeaveGroupResponse(error_code=code_for(exc))
    if not batch:
        error = reply.error or (reply.members[0].error if reply.members else Errc.NONE)
        return LeaveGroupResponse(error_code=error)
    return LeaveGroupResponse(error_code=reply.error, members=[
        MemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id,
                       error_code=m.error) for m in reply.members])


from . import admin_handlers, offset_handlers  # noqa: F401 - registers the other group APIs
