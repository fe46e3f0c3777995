"""Kafka API handlers of committed offsets: OffsetCommit, OffsetFetch (v8+: many groups) and
OffsetDelete, each forwarded to the group's owner shard.

Owns translation only, version by version; never holds offsets itself.
"""

from __future__ import annotations

import asyncio

from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import (
    OffsetCommitResponse,
    OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
    OffsetDeleteResponse,
    OffsetDeleteResponsePartition,
    OffsetDeleteResponseTopic,
    OffsetFetchResponse,
    OffsetFetchResponseGroup,
    OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
)

from ..groups.calls import (
    CommitRequest,
    FetchOffsetsRequest,
    FetchOffsetsResult,
    OffsetEntry,
    PartitionError,
    TopicPartition,
)
from ..groups.coordinator import coordinator_of
from ..groups.errors import SERVICE_ERRORS, code_for


def _by_topic(items: list, make_partition, make_topic) -> list:
    """Group per-partition items (with .topic) into topic entries, in first-seen order."""
    topics: dict[str, list] = {}
    for item in items:
        topics.setdefault(item.topic, []).append(make_partition(item))
    return [make_topic(name=name, partitions=parts) for name, parts in topics.items()]


# --- OffsetCommit --------------------------------------------------------------------------


async def offset_commit(ctx, header, body) -> OffsetCommitResponse:
    version = header.request_api_version
    entries = [OffsetEntry(t.name, p.partition_index, p.committed_offset,
                           p.committed_leader_epoch if version >= 6 else -1,
                           p.committed_metadata or "",
                           p.commit_timestamp if version == 1 else -1)
               for t in body.topics for p in t.partitions]
    req = CommitRequest(group_id=body.group_id, generation_id=body.generation_id_or_member_epoch,
                        member_id=body.member_id, group_instance_id=body.group_instance_id,
                        offsets=entries)
    if not body.group_id:
        results = [PartitionError(e.topic, e.partition, ErrorCode.INVALID_GROUP_ID)
                   for e in entries]
    else:
        try:
            results = (await coordinator_of(body.group_id, ctx.smp).commit_offsets(req)).partitions
        except SERVICE_ERRORS as exc:
            results = [PartitionError(e.topic, e.partition, code_for(exc)) for e in entries]
    return OffsetCommitResponse(topics=_by_topic(
        results, lambda r: OffsetCommitResponsePartition(partition_index=r.partition,
                                                         error_code=r.error),
        OffsetCommitResponseTopic))


# --- OffsetFetch ---------------------------------------------------------------------------


async def _fetch(ctx, group_id: str, topics) -> FetchOffsetsResult:
    wanted = None if topics is None else [
        TopicPartition(t.name, p) for t in topics for p in t.partition_indexes]
    try:
        return await coordinator_of(group_id, ctx.smp).fetch_offsets(
            FetchOffsetsRequest(group_id=group_id, partitions=wanted))
    except SERVICE_ERRORS as exc:
        return FetchOffsetsResult(error=code_for(exc), offsets=[
            OffsetEntry(tp.topic, tp.partition, -1) for tp in wanted or []])


def _partition(cls, e: OffsetEntry, error: int):
    return cls(partition_index=e.partition, committed_offset=e.offset,
               committed_leader_epoch=e.leader_epoch, metadata=e.metadata, error_code=error)


async def offset_fetch(ctx, header, body) -> OffsetFetchResponse:
    """v0-7: one group (topics null: every committed offset, v2+); v8+: many groups."""
    if header.request_api_version >= 8:
        results = await asyncio.gather(*[_fetch(ctx, g.group_id, g.topics) for g in body.groups])
        return OffsetFetchResponse(groups=[OffsetFetchResponseGroup(
            group_id=g.group_id, error_code=r.error, topics=_by_topic(
                r.offsets, lambda e: _partition(OffsetFetchResponsePartitions, e, ErrorCode.NONE),
                OffsetFetchResponseTopics)) for g, r in zip(body.groups, results)])
    result = await _fetch(ctx, body.group_id, body.topics)
    return OffsetFetchResponse(error_code=result.error, topics=_by_topic(
        result.offsets, lambda e: _partition(OffsetFetchResponsePartition, e, result.error),
        OffsetFetchResponseTopic))


# --- OffsetDelete --------------------------------------------------------------------------


async def offset_delete(ctx, header, body) -> OffsetDeleteResponse:
    partitions = [TopicPartition(t.name, p.partition_index) for t in body.topics
                  for p in t.partitions]
    try:
        owner = coordinator_of(body.group_id, ctx.smp)
        reply = await owner.delete_offsets(body.group_id, partitions)
    except SERVICE_ERRORS as exc:
        return OffsetDeleteResponse(error_code=code_for(exc))
    return OffsetDeleteResponse(error_code=reply.error, topics=_by_topic(
        reply.partitions, lambda r: OffsetDeleteResponsePartition(partition_index=r.partition,
                                                                  error_code=r.error),
        OffsetDeleteResponseTopic))
