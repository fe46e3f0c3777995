"""Fetch: read each partition on its owning shard; when fewer than min_bytes came back, wait
(up to max_wait_ms) on the owners' new-data signal, not on a timer loop, then read again."""

from __future__ import annotations

import asyncio
import time

from panda.net.kafka._generated.fetch_response import (
    FetchableTopicResponse, FetchResponse, PartitionData,
)

from ..errors import code
from ..handlers import handler
from ..partition_manager import FetchPart, FetchResult
from ._common import partitions, topic, topic_by_id

TOPIC_IDS_VERSION = 13


@handler(1, min_version=4)
async def fetch(ctx, header, body) -> FetchResponse:
    started = time.perf_counter_ns()
    by_id = header.request_api_version >= TOPIC_IDS_VERSION
    plan, errors = _plan(body, by_id)
    results = await _read(plan)
    deadline = time.monotonic() + body.max_wait_ms / 1000
    while (_size(results) < max(body.min_bytes, 1) and plan and not errors
           and time.monotonic() < deadline):
        if not await _wait(plan, deadline):
            break
        results = await _read(plan)
    ctx.timings.hops["fetch"] = (time.perf_counter_ns() - started) // 1000
    return _response(body, by_id, results, errors, body.max_bytes)


def _plan(body, by_id: bool):
    """{shard: [FetchPart]} for known partitions; {(topic key, partition): error} for others."""
    plan: dict[int, list[FetchPart]] = {}
    errors: dict[tuple, int] = {}
    for t in body.topics:
        info = topic_by_id(t.topic_id) if by_id else topic(t.topic)
        for p in t.partitions:
            key = (t.topic_id if by_id else t.topic, p.partition)
            if info is None:
                errors[key] = code("UNKNOWN_TOPIC_ID" if by_id else "UNKNOWN_TOPIC_OR_PARTITION")
            elif not 0 <= p.partition < len(info.shards):
                errors[key] = code("UNKNOWN_TOPIC_OR_PARTITION")
            else:
                max_bytes = max(1, min(p.partition_max_bytes, body.max_bytes))
                plan.setdefault(info.shards[p.partition], []).append(
                    FetchPart(info.name, p.partition, p.fetch_offset, max_bytes))
    return plan, errors


async def _read(plan) -> dict[tuple[str, int], FetchResult]:
    calls = [partitions().on(shard).fetch(parts) for shard, parts in plan.items()]
    results = {}
    for parts, outcome in zip(plan.values(), await asyncio.gather(*calls)):
        for part, result in zip(parts, outcome):
            results[(part.topic, part.partition)] = result
    return results


def _size(results) -> int:
    if any(r.error_code for r in results.values()):
        return 1 << 62          # an error is news: answer now
    return sum(len(r.records) for r in results.values())


async def _wait(plan, deadline: float) -> bool:
    """Wait for new data on any planned partition; False when the deadline passed."""
    timeout_ms = max(1, int((deadline - time.monotonic()) * 1000))
    waits = [asyncio.ensure_future(partitions().on(shard).wait_for_data(parts, timeout_ms))
             for shard, parts in plan.items()]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return any(t.result() for t in done if not t.cancelled() and t.exception() is None)


def _response(body, by_id: bool, results, errors, max_bytes: int) -> FetchResponse:
    budget = max_bytes
    responses = []
    for t in body.topics:
        info = topic_by_id(t.topic_id) if by_id else topic(t.topic)
        datas = []
        for p in t.partitions:
            key = (t.topic_id if by_id else t.topic, p.partition)
            if key in errors or info is None:
                datas.append(PartitionData(partition_index=p.partition,
                                           error_code=errors.get(key, code("UNKNOWN_TOPIC_OR_PARTITION")),
                                           records=b""))
                continue
            result = results[(info.name, p.partition)]
            records = result.records
            if len(records) > budget and budget < max_bytes:
                records = b""           # the response is full: this partition waits its turn
            budget -= len(records)
            datas.append(PartitionData(partition_index=p.partition, error_code=result.error_code,
                                       high_watermark=result.high_watermark,
                                       last_stable_offset=result.high_watermark,
                                       log_start_offset=result.log_start_offset,
                                       records=records))
        responses.append(FetchableTopicResponse(topic=t.topic, topic_id=t.topic_id,
                                                partitions=datas))
    return FetchResponse(error_code=0, session_id=0, responses=responses)
