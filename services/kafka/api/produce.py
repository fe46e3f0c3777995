"""Produce: split by partition, append on each owning shard (in calls within
message_bytes_max; fsync first for acks=all), answer in request order. acks=0 gets no
response at all."""

from __future__ import annotations

import asyncio
import time

from panda import runtime
from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import (
    PartitionProduceResponse,
    ProduceResponse,
    TopicProduceResponse,
)
from panda.runtime.errors import CrossShardError

from ..errors import code_for
from ..partition_calls import ProducePart, ProduceResult
from .topic_lookup import auto_create, error_for_missing, partitions, topic

ACKS = (0, 1, -1)
CALL_SLACK_BYTES = 1 << 20          # room a cross-shard produce call keeps for its other fields


async def produce(ctx, header, body) -> ProduceResponse | None:
    started = time.perf_counter_ns()
    results: dict[tuple[str, int], ProduceResult] = {}
    if body.acks not in ACKS:
        for t in body.topic_data:
            for p in t.partition_data:
                results[(t.name, p.index)] = ProduceResult(ErrorCode.INVALID_REQUIRED_ACKS)
    else:
        await auto_create([t.name for t in body.topic_data], ctx)
        await _append(body, results, ctx)
    total_us = (time.perf_counter_ns() - started) // 1000
    slowest = max(results.values(), key=lambda r: r.append_us + r.fsync_us, default=None)
    if slowest is not None:
        ctx.timings.hops["append"] = slowest.append_us
        ctx.timings.hops["fsync"] = slowest.fsync_us
        ctx.timings.hops["hop and reply"] = max(0, total_us - slowest.append_us - slowest.fsync_us)
    if body.acks == 0:
        return None
    return ProduceResponse(responses=[
        TopicProduceResponse(name=t.name, partition_responses=[
            _partition_response(p.index, results[(t.name, p.index)]) for p in t.partition_data])
        for t in body.topic_data])


async def _append(body, results: dict, ctx) -> None:
    by_shard: dict[int, list[ProducePart]] = {}
    for t in body.topic_data:
        info = topic(t.name)
        for p in t.partition_data:
            if info is None or not 0 <= p.index < len(info.shards):
                results[(t.name, p.index)] = ProduceResult(
                    error_for_missing(t.name) if info is None
                    else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            elif p.records is None:
                results[(t.name, p.index)] = ProduceResult(ErrorCode.CORRUPT_MESSAGE)
            else:
                by_shard.setdefault(info.shards[p.index], []).append(
                    ProducePart(t.name, p.index, p.records))
    # timeout_ms bounds the wait for acks=all (fsync here, replication in Kafka); acks=0/1
    # answer on append, which a tiny timeout must not turn into REQUEST_TIMED_OUT (retried,
    # so appended twice).
    timeout_s = max(body.timeout_ms, 1) / 1000 if body.acks == -1 else None
    bytes_max = max(1 << 20, runtime.current().config.message_bytes_max - CALL_SLACK_BYTES)
    groups = [(shard, chunk) for shard, parts in by_shard.items()
              for chunk in _chunks(parts, bytes_max)]
    calls = [partitions().on(shard, timeout=timeout_s).produce(chunk, body.acks)
             for shard, chunk in groups]
    for (_shard, parts), outcome in zip(groups, await _settled(calls)):
        for i, part in enumerate(parts):
            if isinstance(outcome, BaseException):
                error = (ErrorCode.REQUEST_TIMED_OUT if isinstance(outcome, TimeoutError)
                         else code_for(outcome) if isinstance(outcome, (CrossShardError, Exception))
                         else ErrorCode.UNKNOWN_SERVER_ERROR)
                results[(part.topic, part.partition)] = ProduceResult(
                    error, error_message=str(outcome))
            else:
                results[(part.topic, part.partition)] = outcome[i]


async def _settled(calls: list) -> list:
    """Each call's result or exception; a lone call (the common case: one partition, or all
    on one shard) is awaited directly, without gather's task and future."""
    if len(calls) == 1:
        try:
            return [await calls[0]]
        except Exception as exc:  # noqa: BLE001 - reported per partition, as gather would
            return [exc]
    return await asyncio.gather(*calls, return_exceptions=True)


def _chunks(parts: list[ProducePart], bytes_max: int):
    """The parts in order, in groups of at most bytes_max record bytes (a larger part goes
    alone), so that no cross-shard call is over message_bytes_max."""
    chunk: list[ProducePart] = []
    size = 0
    for part in parts:
        if chunk and size + len(part.records) > bytes_max:
            yield chunk
            chunk, size = [], 0
        chunk.append(part)
        size += len(part.records)
    if chunk:
        yield chunk


def _partition_response(index: int, result: ProduceResult) -> PartitionProduceResponse:
    return PartitionProduceResponse(index=index, error_code=result.error_code,
                                    base_offset=result.base_offset,
                                    log_append_time_ms=result.log_append_time_ms,
                                    log_start_offset=result.log_start_offset,
                                    error_message=result.error_message)
