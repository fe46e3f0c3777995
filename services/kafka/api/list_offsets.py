"""ListOffsets (earliest, latest, by timestamp) on each partition's owning shard."""

from __future__ import annotations

import asyncio

from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import (
    ListOffsetsPartitionResponse,
    ListOffsetsResponse,
    ListOffsetsTopicResponse,
)

from ..partition_calls import OffsetResult
from .topic_lookup import error_for_missing, partitions, topic


async def list_offsets(ctx, header, body) -> ListOffsetsResponse:
    topics = []
    for t in body.topics:
        info = topic(t.name)
        calls = []
        for p in t.partitions:
            if info is None or not 0 <= p.partition_index < len(info.shards):
                calls.append(_error(error_for_missing(t.name) if info is None
                                    else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
            else:
                calls.append(partitions().on(info.shards[p.partition_index]).list_offset(
                    t.name, p.partition_index, p.timestamp))
        answers = await asyncio.gather(*calls)
        topics.append(ListOffsetsTopicResponse(name=t.name, partitions=[
            ListOffsetsPartitionResponse(partition_index=p.partition_index,
                                         error_code=a.error_code, timestamp=a.timestamp,
                                         offset=a.offset, leader_epoch=a.leader_epoch)
            for p, a in zip(t.partitions, answers)]))
    return ListOffsetsResponse(topics=topics)


async def _error(error_code: int) -> OffsetResult:
    return OffsetResult(error_code)
