"""Fetch: read each partition on its owning shard; when fewer than min_bytes came back, wait
(up to max_wait_ms) on the owners' new-data signal, not on a timer loop, then read again.
Fetch sessions (v7+) keep the partition set between requests (see fetch_session.py)."""

from __future__ import annotations

import asyncio
import time

from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import FetchableTopicResponse, FetchResponse, PartitionData

from ..fetch_session import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    FetchSession,
    FetchSessionCache,
    SessionPartition,
    rotate,
    update,
)
from ..partition_calls import FetchPart, PartitionFetchResult
from .topic_lookup import partitions, topic, topic_by_id

TOPIC_IDS_VERSION = 13
SESSIONS_VERSION = 7
_caches: dict[int, FetchSessionCache] = {}


def _cache(ctx) -> FetchSessionCache:
    cache = _caches.get(ctx.shard)
    if cache is None:
        cache = _caches[ctx.shard] = FetchSessionCache(ctx.shard, ctx.smp)
    return cache


async def fetch(ctx, header, body) -> FetchResponse:
    started = time.perf_counter_ns()
    version = header.request_api_version
    by_id = version >= TOPIC_IDS_VERSION
    wanted, unknown = _requested(body, by_id)
    session, incremental, error = _session(ctx, body, version, wanted, by_id)
    if error:
        return FetchResponse(error_code=error, session_id=0)
    entries = list(session.partitions.values()) if session else wanted
    plan = _plan(entries, body.max_bytes)
    results = await _read(plan, body.max_bytes)
    deadline = time.monotonic() + body.max_wait_ms / 1000
    while (_size(results) < max(body.min_bytes, 1) and plan and not unknown
           and time.monotonic() < deadline):
        if not await _wait(plan, deadline):
            break
        results = await _read(plan, body.max_bytes)
    ctx.timings.hops["fetch"] = (time.perf_counter_ns() - started) // 1000
    return _response(entries, results, unknown, body.max_bytes, session, incremental)


def _requested(body, by_id: bool):
    """Known partitions as SessionPartitions; unknown ones as (topic key, partition, error)."""
    wanted, unknown = [], []
    for t in body.topics:
        info = topic_by_id(t.topic_id) if by_id else topic(t.topic)
        for p in t.partitions:
            if info is None or not 0 <= p.partition < len(info.shards):
                error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if info is not None or not by_id \
                    else ErrorCode.UNKNOWN_TOPIC_ID
                unknown.append((t.topic, t.topic_id, p.partition, error))
            else:
                wanted.append(SessionPartition(info.name, t.topic_id, p.partition,
                                               p.fetch_offset, p.partition_max_bytes))
    return wanted, unknown


def _session(ctx, body, version: int, wanted, by_id: bool):
    """(session or None, incremental?, error code) for the request's session id and epoch."""
    if version < SESSIONS_VERSION:
        return None, False, 0
    cache, session_id, epoch = _cache(ctx), body.session_id, body.session_epoch
    if session_id == 0:
        if epoch != INITIAL_EPOCH:
            return None, False, 0                       # sessionless full fetch
        return _new_session(cache, wanted), False, 0
    if epoch == FINAL_EPOCH:
        cache.remove(session_id)
        return None, False, 0
    session = cache.get(session_id)
    if session is None:
        return None, False, ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    if epoch == INITIAL_EPOCH:
        cache.remove(session_id)
        return _new_session(cache, wanted), False, 0
    if epoch != session.epoch:
        return None, False, ErrorCode.INVALID_FETCH_SESSION_EPOCH
    forgotten: list[tuple[str, int]] = []
    for t in body.forgotten_topics_data:
        info = topic_by_id(t.topic_id) if by_id else topic(t.topic)
        name = info.name if info is not None else t.topic
        forgotten.extend((name, p) for p in t.partitions)
    update(session, wanted, forgotten)
    session.epoch = epoch + 1 if epoch < 0x7FFFFFFF else 1
    return session, True, 0


def _new_session(cache: FetchSessionCache, wanted) -> FetchSession:
    session = cache.create()
    update(session, wanted, [])
    return session


def _plan(entries, max_bytes: int) -> dict[int, list[FetchPart]]:
    plan: dict[int, list[FetchPart]] = {}
    for entry in entries:
        info = topic(entry.topic)
        if info is None or entry.partition >= len(info.shards):
            continue
        part_max = max(1, min(entry.max_bytes, max_bytes))
        plan.setdefault(info.shards[entry.partition], []).append(
            FetchPart(entry.topic, entry.partition, entry.fetch_offset, part_max))
    return plan


async def _read(plan, max_bytes: int) -> dict[tuple[str, int], PartitionFetchResult]:
    calls = [partitions().on(shard).fetch(parts, max_bytes) for shard, parts in plan.items()]
    outcomes = [await calls[0]] if len(calls) == 1 else await asyncio.gather(*calls)
    results = {}
    for parts, outcome in zip(plan.values(), outcomes):
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


def _response(entries, results, unknown, max_bytes: int, session, incremental: bool):
    budget = max_bytes
    by_topic: dict[tuple, list[PartitionData]] = {}
    for entry in entries:
        result = results.get((entry.topic, entry.partition)) or PartitionFetchResult(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        records = result.records
        if len(records) > budget and budget < max_bytes:
            records = b""               # the response is full: this partition waits its turn
        moved = (records or result.error_code or result.high_watermark != entry.high_watermark
                 or result.log_start_offset != entry.log_start_offset)
        if incremental and not moved:
            continue
        budget -= len(records)
        entry.high_watermark = result.high_watermark
        entry.log_start_offset = result.log_start_offset
        by_topic.setdefault((entry.topic, entry.topic_id), []).append(PartitionData(
            partition_index=entry.partition, error_code=result.error_code,
            high_watermark=result.high_watermark, last_stable_offset=result.high_watermark,
            log_start_offset=result.log_start_offset, records=records))
    for name, topic_id, index, error in unknown:
        by_topic.setdefault((name, topic_id), []).append(
            PartitionData(partition_index=index, error_code=error, records=b""))
    if session is not None:
        rotate(session, [e for e in entries if results.get((e.topic, e.partition))
                         and results[(e.topic, e.partition)].records])
    responses = [FetchableTopicResponse(topic=name, topic_id=topic_id, partitions=datas)
                 for (name, topic_id), datas in by_topic.items()]
    return FetchResponse(error_code=0, session_id=session.session_id if session else 0,
                         responses=responses)
