"""Kafka API handlers of consumer group membership: FindCoordinator, JoinGroup, SyncGroup,
Heartbeat and LeaveGroup (the offset APIs are in group_offsets.py, the admin ones in
group_admin.py).

Owns translation only: a request becomes a coordinator call on the group's owner shard, its
result becomes the response of the request's version. Never holds group state.
"""

from __future__ import annotations

from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import (
    Coordinator,
    FindCoordinatorResponse,
    HeartbeatResponse,
    JoinGroupResponse,
    JoinGroupResponseMember,
    LeaveGroupResponse,
    MemberResponse,
    SyncGroupResponse,
)

from ..groups.calls import HeartbeatRequest, JoinRequest, JoinResult, LeaveMember, SyncRequest
from ..groups.consumer_offsets_records import Protocol
from ..groups.coordinator import coordinator_of
from ..groups.errors import SERVICE_ERRORS, code_for

KEY_TYPE_GROUP = 0
KEY_TYPE_TRANSACTION = 1


def client_host(ctx) -> str:
    """'/127.0.0.1', as Kafka shows a member's host."""
    peer = getattr(ctx, "peer", "") or ""
    host = peer.rsplit(":", 1)[0] if ":" in peer else peer
    return f"/{host.strip('[]')}" if host else ""


# --- FindCoordinator -----------------------------------------------------------------------


async def find_coordinator(ctx, header, body) -> FindCoordinatorResponse:
    """This node coordinates every group and transaction (single node)."""
    error = ErrorCode.NONE if body.key_type in (KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION) else \
        ErrorCode.INVALID_REQUEST
    if header.request_api_version >= 4:
        return FindCoordinatorResponse(coordinators=[
            Coordinator(key=key, node_id=ctx.node_id, host=ctx.advertised_host,
                        port=ctx.advertised_port, error_code=error, error_message=None)
            for key in body.coordinator_keys])
    return FindCoordinatorResponse(error_code=error, error_message=None, node_id=ctx.node_id,
                                   host=ctx.advertised_host, port=ctx.advertised_port)


# --- JoinGroup -----------------------------------------------------------------------------


async def join_group(ctx, header, body) -> JoinGroupResponse:
    version = header.request_api_version
    if not body.group_id:
        return _join_response(JoinResult(error=ErrorCode.INVALID_GROUP_ID), version)
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
        result = await coordinator_of(body.group_id, ctx.smp).join_group(req)
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


async def sync_group(ctx, header, body) -> SyncGroupResponse:
    if not body.group_id:
        return SyncGroupResponse(error_code=ErrorCode.INVALID_GROUP_ID)
    req = SyncRequest(group_id=body.group_id, generation_id=body.generation_id,
                      member_id=body.member_id, group_instance_id=body.group_instance_id,
                      protocol_type=body.protocol_type, protocol_name=body.protocol_name,
                      assignments={a.member_id: a.assignment for a in body.assignments})
    try:
        r = await coordinator_of(body.group_id, ctx.smp).sync_group(req)
    except SERVICE_ERRORS as exc:
        return SyncGroupResponse(error_code=code_for(exc))
    return SyncGroupResponse(error_code=r.error, protocol_type=r.protocol_type,
                             protocol_name=r.protocol_name, assignment=r.assignment)


async def heartbeat(ctx, header, body) -> HeartbeatResponse:
    if not body.group_id:
        return HeartbeatResponse(error_code=ErrorCode.INVALID_GROUP_ID)
    req = HeartbeatRequest(group_id=body.group_id, generation_id=body.generation_id,
                           member_id=body.member_id, group_instance_id=body.group_instance_id)
    try:
        error = await coordinator_of(body.group_id, ctx.smp).heartbeat(req)
    except SERVICE_ERRORS as exc:
        error = code_for(exc)
    return HeartbeatResponse(error_code=error)


# --- LeaveGroup ----------------------------------------------------------------------------


async def leave_group(ctx, header, body) -> LeaveGroupResponse:
    """v0-2: one member by id; v3+: a batch, by member id or group.instance.id (KIP-345)."""
    batch = header.request_api_version >= 3
    leaving = [LeaveMember(m.member_id, m.group_instance_id, m.reason) for m in body.members] \
        if batch else [LeaveMember(body.member_id)]
    if not body.group_id:
        return LeaveGroupResponse(error_code=ErrorCode.INVALID_GROUP_ID)
    try:
        reply = await coordinator_of(body.group_id, ctx.smp).leave_group(body.group_id, leaving)
    except SERVICE_ERRORS as exc:
        return LeaveGroupResponse(error_code=code_for(exc))
    if not batch:
        error = reply.error or (reply.members[0].error if reply.members else ErrorCode.NONE)
        return LeaveGroupResponse(error_code=error)
    return LeaveGroupResponse(error_code=reply.error, members=[
        MemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id,
                       error_code=m.error) for m in reply.members])

