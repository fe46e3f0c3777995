"""The group coordinator service: one GroupManager per shard, each owning the groups whose id
hashes to it (`coordinator_shard`).

Owns placement and the cross-shard surface only; the rules live in group.py, the asyncio edge
in group_manager.py. Invariant: a shard answers only for groups it owns (NOT_COORDINATOR
otherwise), so one group's state never lives on two shards.
"""

from __future__ import annotations

import zlib
from typing import Any

from panda import runtime
from panda.net.kafka import ErrorCode
from panda.runtime import ALL, Service

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
    ListedGroupInfo,
    OffsetDeleteReply,
    PartitionError,
    SyncRequest,
    SyncResult,
    TopicPartition,
)
from .config import GroupConfig
from .group_manager import GroupManager


def coordinator_shard(group_id: str, smp: int) -> int:
    """The shard that coordinates group_id (stable across restarts and processes)."""
    return zlib.crc32(group_id.encode()) % smp


class GroupCoordinator(Service):
    name = "group_coordinator"
    shards = ALL
    smp_group = "kafka_groups"  # long-polled joins must not starve other services' calls
    config_type = GroupConfig
    config_section = "groups"
    config: GroupConfig

    async def start(self) -> None:
        config = runtime.current().config
        self.manager = GroupManager(config.data_dir, self.shard, self.config)
        await self.manager.start()
        groups = self.manager.groups
        self.manager.probe.register(runtime.current().metrics, lambda: len(groups),
                                    lambda: sum(len(g.members) for g in groups.values()))

    async def stop(self) -> None:
        await self.manager.stop()

    def _owns(self, group_id: str) -> bool:
        return coordinator_shard(group_id, self.smp) == self.shard

    async def join_group(self, req: JoinRequest) -> JoinResult:
        if not self._owns(req.group_id):
            return JoinResult(error=ErrorCode.NOT_COORDINATOR, member_id=req.member_id)
        return await self.manager.join(req)

    async def sync_group(self, req: SyncRequest) -> SyncResult:
        if not self._owns(req.group_id):
            return SyncResult(error=ErrorCode.NOT_COORDINATOR)
        return await self.manager.sync(req)

    async def heartbeat(self, req: HeartbeatRequest) -> int:
        if not self._owns(req.group_id):
            return ErrorCode.NOT_COORDINATOR
        return await self.manager.heartbeat(req)

    async def leave_group(self, group_id: str, members: list[LeaveMember]) -> LeaveReply:
        if not self._owns(group_id):
            return LeaveReply(error=ErrorCode.NOT_COORDINATOR)
        return await self.manager.leave(group_id, members)

    async def commit_offsets(self, req: CommitRequest) -> CommitResult:
        if not self._owns(req.group_id):
            return CommitResult([PartitionError(e.topic, e.partition, ErrorCode.NOT_COORDINATOR)
                                 for e in req.offsets])
        return await self.manager.commit(req)

    async def fetch_offsets(self, req: FetchOffsetsRequest) -> FetchOffsetsResult:
        if not self._owns(req.group_id):
            return FetchOffsetsResult(error=ErrorCode.NOT_COORDINATOR)
        return await self.manager.fetch_offsets(req)

    async def delete_offsets(self, group_id: str,
                             partitions: list[TopicPartition]) -> OffsetDeleteReply:
        if not self._owns(group_id):
            return OffsetDeleteReply(error=ErrorCode.NOT_COORDINATOR)
        return await self.manager.delete_offsets(group_id, partitions)

    async def delete_groups(self, group_ids: list[str]) -> list[int]:
        """One error code per group id (each must be owned by this shard)."""
        return [await self.manager.delete_group(g) if self._owns(g) else ErrorCode.NOT_COORDINATOR
                for g in group_ids]

    async def describe_groups(self, group_ids: list[str]) -> list[GroupDescription]:
        return [self.manager.describe(g) if self._owns(g) else GroupDescription(
            error=ErrorCode.NOT_COORDINATOR, group_id=g, state="", protocol_type="",
            protocol_data="") for g in group_ids]

    async def list_local_groups(self, states: list[str], types: list[str]) -> list[ListedGroupInfo]:
        return self.manager.list_groups(states, types)


def coordinator_of(group_id: str, smp: int) -> Any:
    """The coordinator that owns group_id, as a call proxy:
    `await coordinator_of(group_id, smp).heartbeat(req)`."""
    return runtime.service(GroupCoordinator).on(coordinator_shard(group_id, smp))
