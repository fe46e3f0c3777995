"""DeleteRecords, OffsetForLeaderEpoch and DescribeLogDirs: per-partition log operations on
each owning shard, and the node's log directory summary."""

from __future__ import annotations

import asyncio
import os
import shutil

from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import (
    DeleteRecordsPartitionResult,
    DeleteRecordsResponse,
    DeleteRecordsTopicResult,
    DescribeLogDirsPartition,
    DescribeLogDirsResponse,
    DescribeLogDirsResult,
    DescribeLogDirsTopic,
    EpochEndOffset,
    OffsetForLeaderEpochResponse,
    OffsetForLeaderTopicResult,
)

from ..partition_calls import OffsetResult
from .topic_lookup import error_for_missing, partitions, topic


async def _missing(error_code: int) -> OffsetResult:
    return OffsetResult(error_code)


def _per_partition(name: str, indexes: list[int], call):
    """One awaitable per partition: call(owner_proxy, index), or the missing-topic error."""
    info = topic(name)
    out = []
    for index in indexes:
        if info is None or not 0 <= index < len(info.shards):
            out.append(_missing(error_for_missing(name) if info is None
                                else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
        else:
            out.append(call(partitions().on(info.shards[index]), index))
    return asyncio.gather(*out)


async def delete_records(ctx, header, body) -> DeleteRecordsResponse:
    topics = []
    for t in body.topics:
        answers = await _per_partition(
            t.name, [p.partition_index for p in t.partitions],
            lambda owner, i, t=t: owner.delete_records(
                t.name, i, next(p.offset for p in t.partitions if p.partition_index == i)))
        topics.append(DeleteRecordsTopicResult(name=t.name, partitions=[
            DeleteRecordsPartitionResult(partition_index=p.partition_index,
                                         low_watermark=a.offset, error_code=a.error_code)
            for p, a in zip(t.partitions, answers)]))
    return DeleteRecordsResponse(topics=topics)


async def offset_for_leader_epoch(ctx, header, body) -> OffsetForLeaderEpochResponse:
    topics = []
    for t in body.topics:
        by_index = {p.partition: p for p in t.partitions}
        answers = await _per_partition(
            t.topic, [p.partition for p in t.partitions],
            lambda owner, i, t=t, by_index=by_index: owner.epoch_end_offset(
                t.topic, i, by_index[i].leader_epoch, by_index[i].current_leader_epoch))
        topics.append(OffsetForLeaderTopicResult(topic=t.topic, partitions=[
            EpochEndOffset(error_code=a.error_code, partition=p.partition,
                           leader_epoch=a.leader_epoch, end_offset=a.offset)
            for p, a in zip(t.partitions, answers)]))
    return OffsetForLeaderEpochResponse(topics=topics)


async def describe_log_dirs(ctx, header, body) -> DescribeLogDirsResponse:
    wanted = None if body.topics is None else {(t.topic, p) for t in body.topics
                                               for p in t.partitions}
    sizes = [entry for shard in await partitions().on_all().describe() for entry in shard]
    by_topic: dict[str, list[DescribeLogDirsPartition]] = {}
    for name, index, size in sorted(sizes):
        if wanted is None or (name, index) in wanted:
            by_topic.setdefault(name, []).append(
                DescribeLogDirsPartition(partition_index=index, partition_size=size))
    log_dir = os.path.abspath(os.path.join(ctx.data_dir, "kafka"))
    usage = shutil.disk_usage(log_dir)
    result = DescribeLogDirsResult(
        error_code=0, log_dir=log_dir, total_bytes=usage.total, usable_bytes=usage.free,
        topics=[DescribeLogDirsTopic(name=n, partitions=ps) for n, ps in by_topic.items()])
    return DescribeLogDirsResponse(results=[result])
