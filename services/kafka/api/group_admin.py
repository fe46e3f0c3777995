"""Kafka API handlers that look at groups from the outside: ListGroups (every shard),
DescribeGroups and DeleteGroups (each group's owner shard, one call per shard).

Owns translation and fan-out only; never holds group state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from panda import runtime
from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import (
    DeletableGroupResult,
    DeleteGroupsResponse,
    DescribedGroup,
    DescribedGroupMember,
    DescribeGroupsResponse,
    ListedGroup,
    ListGroupsResponse,
)

from ..groups.calls import GroupDescription, ListedGroupInfo
from ..groups.coordinator import GroupCoordinator, coordinator_shard
from ..groups.errors import SERVICE_ERRORS, code_for

GROUP_TYPE = "classic"
# READ, DELETE and DESCRIBE (AclOperation codes 3, 6, 8): all a group allows without ACLs
GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)
NO_OPERATIONS = -(2**31)


async def _per_owner(ctx, group_ids: list[str], method: str,
                     on_error: Callable[[str, int], Any]) -> list[Any]:
    """Call `method(ids)` once on each owner shard; results in the order of group_ids."""
    by_shard: dict[int, list[str]] = {}
    for g in dict.fromkeys(group_ids):
        by_shard.setdefault(coordinator_shard(g, ctx.smp), []).append(g)
    service = runtime.service(GroupCoordinator)

    async def call(shard: int, ids: list[str]) -> list[Any]:
        try:
            return await getattr(service.on(shard), method)(ids)
        except SERVICE_ERRORS as exc:
            return [on_error(g, code_for(exc)) for g in ids]

    answers = await asyncio.gather(*[call(s, ids) for s, ids in by_shard.items()])
    found = {g: a for ids, results in zip(by_shard.values(), answers)
             for g, a in zip(ids, results)}
    return [found[g] for g in group_ids]


async def list_groups(ctx, header, body) -> ListGroupsResponse:
    try:
        found = await runtime.service(GroupCoordinator).map_reduce(
            "list_local_groups", _concat, list(body.states_filter), list(body.types_filter))
    except SERVICE_ERRORS as exc:
        return ListGroupsResponse(error_code=code_for(exc))
    return ListGroupsResponse(groups=[
        ListedGroup(group_id=g.group_id, protocol_type=g.protocol_type, group_state=g.state,
                    group_type=GROUP_TYPE) for g in found])


def _concat(lists: list[list[ListedGroupInfo]]) -> list[ListedGroupInfo]:
    return [g for found in lists for g in found]


async def describe_groups(ctx, header, body) -> DescribeGroupsResponse:
    described = await _per_owner(ctx, list(body.groups), "describe_groups", _describe_error)
    operations = GROUP_OPERATIONS if body.include_authorized_operations else NO_OPERATIONS
    return DescribeGroupsResponse(groups=[_described(d, operations) for d in described])


def _describe_error(group_id: str, error: int) -> GroupDescription:
    return GroupDescription(error=error, group_id=group_id, state="", protocol_type="",
                            protocol_data="")


def _described(d: GroupDescription, operations: int) -> DescribedGroup:
    return DescribedGroup(
        error_code=d.error, group_id=d.group_id, group_state=d.state,
        protocol_type=d.protocol_type, protocol_data=d.protocol_data,
        authorized_operations=operations if d.error == ErrorCode.NONE else NO_OPERATIONS,
        members=[DescribedGroupMember(
            member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
            client_host=m.client_host, member_metadata=m.metadata,
            member_assignment=m.assignment) for m in d.members])


async def delete_groups(ctx, header, body) -> DeleteGroupsResponse:
    names = list(body.groups_names)
    errors = await _per_owner(ctx, names, "delete_groups", lambda g, error: error)
    return DeleteGroupsResponse(results=[DeletableGroupResult(group_id=g, error_code=e)
                                         for g, e in zip(names, errors)])
