"""Partitions on this shard: one log each (a one-replica Raft group in waiting), produce,
fetch, offsets, and the "new data" signal long-poll fetches wait on.

Owns the shard's LogManager and every partition the topic table assigns to this shard
(partition.py); reconciles them with each new table version. Never decodes records on the
produce and fetch paths: batches stay opaque except for header checks (ListOffsets by time
alone decodes, in time_scan.py). acks=all completes only after the batch is fsynced. Calls
and results cross shards as partition_calls.py's Structs; metrics are probe.PartitionProbe's.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from panda import runtime
from panda.net.kafka import ErrorCode
from panda.runtime import ALL, Service
from panda.services.controller import Controller, TopicTable
from panda.storage import read_ahead
from panda.storage import record_batch as rb
from panda.storage.config import StorageConfig
from panda.storage.errors import StorageError
from panda.storage.log_manager import LogManager

from . import topic_config
from .config import KafkaConfig
from .errors import BatchRejected, code_for
from .partition import Partition
from .partition_calls import (
    FetchPart,
    OffsetResult,
    PartitionFetchResult,
    ProducePart,
    ProduceResult,
)
from .probe import PartitionProbe
from .time_scan import first_record_at

FETCH_REPLY_SLACK_BYTES = 1 << 20   # room a fetch reply keeps under message_bytes_max for fields


class PartitionManager(Service):
    name = "partition_manager"
    shards = ALL
    depends = (Controller,)
    config_type = KafkaConfig
    config_section = "kafka"
    config: KafkaConfig

    def __init__(self) -> None:
        self.partitions: dict[tuple[str, int], Partition] = {}
        self._reconciling = asyncio.Lock()

    async def start(self) -> None:
        config = runtime.current().config
        self._fetch_bytes_max = max(1 << 20, config.message_bytes_max - FETCH_REPLY_SLACK_BYTES)
        self.logs = LogManager(StorageConfig(
            data_dir=os.path.join(config.data_dir, "kafka"),
            flush_debounce_us=self.config.flush_debounce_us))
        await self.logs.start()
        self._register_metrics(runtime.current().metrics)
        controller = runtime.service(Controller).local()
        controller.subscribe(self._reconcile)
        await self._reconcile(controller.table)

    def _register_metrics(self, metrics) -> None:
        self.probe = PartitionProbe(metrics, self.partitions)
        self._register_storage_metrics(metrics)

    def _register_storage_metrics(self, metrics) -> None:
        self.logs.register_metrics(metrics)
        self._fsync_wait = metrics.histogram(
            "panda_kafka_produce_fsync_wait_seconds",
            "acks=all produce: time from append to durable (group-commit fsync)")

    async def stop(self) -> None:
        for partition in self.partitions.values():
            partition.notify()
        await self.logs.stop()

    async def _reconcile(self, table: TopicTable) -> None:
        """Open this shard's new partitions, drop deleted ones, apply changed configs."""
        async with self._reconciling:
            wanted = {(t.name, p): t for t in table.topics.values()
                      for p, shard in enumerate(t.shards) if shard == self.shard}
            for key in [k for k in self.partitions if k not in wanted]:
                partition = self.partitions.pop(key)
                self.probe.topic_removed(key[0])
                partition.notify()
                await self.logs.remove_log(f"{key[0]}-{key[1]}")
                partition.logger.info("removed")
            for (name, index), topic in wanted.items():
                existing = self.partitions.get((name, index))
                if existing is None:
                    log_ = await self.logs.open_log(f"{name}-{index}",
                                                    topic_config.storage_config(topic.configs))
                    opened = self.partitions[(name, index)] = Partition(name, index, log_,
                                                                        topic.configs)
                    opened.logger.info("opened: offsets %d to %d", log_.start_offset,
                                       log_.next_offset)
                else:
                    existing.configure(topic.configs)

    # -- produce --------------------------------------------------------------------------
    async def produce(self, parts: list[ProducePart], acks: int) -> list[ProduceResult]:
        """Append each part's batches; with acks=-1 return after they are fsynced."""
        return list(await asyncio.gather(*(self._produce_one(p, acks) for p in parts)))

    async def _produce_one(self, part: ProducePart, acks: int) -> ProduceResult:
        partition = self.partitions.get((part.topic, part.partition))
        if partition is None:
            return ProduceResult(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        try:
            batches = self._split(part.records, partition)
        except BatchRejected as reject:
            return ProduceResult(reject.code, error_message=str(reject))
        append_time = int(time.time() * 1000) if partition.log_append_time else -1
        started = time.perf_counter_ns()
        synced = started
        producers = partition.producers
        try:
            base_offset = -1
            last = partition.log.next_offset - 1
            for batch, header in batches:
                offset = producers.duplicate_of(header)
                if offset is None:
                    if append_time >= 0:
                        rb.set_log_append_time(batch, 0, header, append_time)
                    offset, last = partition.log.append_nowait(batch)
                    producers.remember(header, offset)
                    self.probe.appended(part.topic, len(batch), header.records_count)
                base_offset = offset if base_offset < 0 else base_offset
            partition.notify()
            appended = time.perf_counter_ns()
            if acks == -1:
                await partition.log.wait_durable(last + 1)
            synced = time.perf_counter_ns()
            if acks == -1:
                self._fsync_wait.observe((synced - appended) // 1000)
        except StorageError as exc:
            return ProduceResult(code_for(exc), error_message=str(exc))
        return ProduceResult(0, base_offset, append_time, partition.log.start_offset,
                             append_us=(appended - started) // 1000,
                             fsync_us=(synced - appended) // 1000)

    def _split(self, records: bytes, partition: Partition) -> list[tuple[Any, Any]]:
        """The records blob as whole v2 batches, each within max.message.bytes. With several
        batches every CRC is checked here first, so a bad one appends none; a lone batch is
        checked by the log's append (one CRC pass, not two)."""
        batches: list[tuple[Any, Any]] = []
        view = memoryview(records)
        batches_iter = rb.iter_batches(view)
        for offset, header in batches_iter:
            if header.size_bytes > partition.max_message_bytes:
                raise BatchRejected(ErrorCode.MESSAGE_TOO_LARGE,
                                    f"batch of {header.size_bytes} bytes is over max.message.bytes "
                                    f"({partition.max_message_bytes})")
            batch = view[offset: offset + header.size_bytes]
            batches.append((bytearray(batch) if partition.log_append_time else batch, header))
        if batches_iter.torn or not batches:
            error = batches_iter.stop_error
            code = ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT if "magic" in str(error) else (
                ErrorCode.CORRUPT_MESSAGE)
            raise BatchRejected(code, f"bad record batch: {error or 'no batches'}")
        if len(batches) > 1:
            for batch, _ in batches:
                try:
                    rb.validate_crc(batch)
                except StorageError as exc:
                    raise BatchRejected(ErrorCode.CORRUPT_MESSAGE,
                                        f"bad record batch: {exc}") from None
        return batches

    # -- fetch ----------------------------------------------------------------------------
    async def fetch(self, parts: list[FetchPart],
                    max_bytes: int | None = None) -> list[PartitionFetchResult]:
        """Read each part from its offset (whole batches, below the high watermark), about
        max_bytes in all and never more than one cross-shard reply holds. The first part with
        data comes whole even past the limit (KIP-74); once the limit is reached the others
        answer with their watermarks and no records (they wait their turn). Cold parts are
        read ahead off the reactor first: a lagging consumer's disk reads took 5-20 ms, and
        the shard used to stall on them."""
        budget = min(max_bytes or self._fetch_bytes_max, self._fetch_bytes_max)
        await self._read_ahead(parts, budget)
        results: list[PartitionFetchResult] = []
        total = 0
        for part in parts:
            result = self._fetch_one(part, None if total == 0 else budget - total)
            total += len(result.records)
            results.append(result)
        return results

    async def _read_ahead(self, parts: list[FetchPart], budget: int) -> None:
        """Warm the parts the batch cache cannot serve, side by side on reader threads."""
        ranges = []
        for part in parts:
            partition = self.partitions.get((part.topic, part.partition))
            if partition is not None and part.offset < partition.high_watermark:
                found = partition.log.read_ahead_range(part.offset, min(part.max_bytes, budget))
                if found is not None:
                    ranges.append(found)
        if len(ranges) == 1:
            await read_ahead.warm(*ranges[0])
        elif ranges:
            await asyncio.gather(*(read_ahead.warm(*found) for found in ranges))

    def _fetch_one(self, part: FetchPart, room: int | None = None) -> PartitionFetchResult:
        """One part's batches; with `room` set, only if they fit in `room` bytes."""
        partition = self.partitions.get((part.topic, part.partition))
        if partition is None:
            return PartitionFetchResult(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        log_ = partition.log
        hw = partition.high_watermark
        if room is not None and room <= 0:
            if not log_.start_offset <= part.offset <= log_.next_offset:
                return PartitionFetchResult(ErrorCode.OFFSET_OUT_OF_RANGE, hw, log_.start_offset)
            return PartitionFetchResult(0, hw, log_.start_offset)
        try:
            limit = part.max_bytes if room is None else min(part.max_bytes, room)
            result = log_.read(part.offset, limit, upto=hw)
        except StorageError as exc:
            return PartitionFetchResult(code_for(exc), hw, log_.start_offset)
        if room is not None and result.size_bytes > room:
            return PartitionFetchResult(0, hw, log_.start_offset)  # its first batch does not fit
        if result.batches:
            records = sum(rb.read_header(batch).records_count for batch in result.batches)
            self.probe.served(part.topic, result.size_bytes, records)
        return PartitionFetchResult(0, hw, log_.start_offset, result.to_bytes())

    async def wait_for_data(self, parts: list[FetchPart], timeout_ms: int) -> bool:
        """Return when any part has committed data past its offset, or after timeout_ms
        (False). Data appended but not yet synced is synced now rather than at the next
        flush interval: a waiting consumer is what makes it urgent."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        for part in parts:
            partition = self.partitions.get((part.topic, part.partition))
            if partition is None or partition.high_watermark > part.offset:
                return True
            if partition.log.next_offset > part.offset:
                partition.when_durable(future)
            partition.add_waiter(future)
        try:
            await asyncio.wait_for(future, timeout_ms / 1000)
            return True
        except TimeoutError:
            return False

    # -- offsets --------------------------------------------------------------------------
    def list_offset(self, topic: str, index: int, timestamp: int) -> OffsetResult:
        """-2 earliest, -1 latest, -3 the (first) record with the largest timestamp, else the
        first record with a timestamp at or after `timestamp`; offset -1 when there is none."""
        partition = self.partitions.get((topic, index))
        if partition is None:
            return OffsetResult(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        log_ = partition.log
        if timestamp == -2:
            return OffsetResult(0, log_.start_offset, -1, partition.leader_epoch)
        if timestamp == -1:
            return OffsetResult(0, partition.high_watermark, -1, partition.leader_epoch)
        if timestamp == -3:
            timestamp = max((s.index.max_timestamp for s in log_.segments), default=-1)
            if timestamp < 0:
                return OffsetResult(0, -1, -1, partition.leader_epoch)
        found = log_.offset_for_timestamp(timestamp)
        try:
            if found is not None:
                found, found_time = first_record_at(log_, found, timestamp,
                                                    partition.high_watermark)
                if found >= 0:
                    return OffsetResult(0, found, found_time, partition.leader_epoch)
        except StorageError as exc:
            return OffsetResult(code_for(exc))
        return OffsetResult(0, -1, -1, partition.leader_epoch)

    async def delete_records(self, topic: str, index: int, offset: int) -> OffsetResult:
        """Move the log start to offset (-1: the high watermark)."""
        partition = self.partitions.get((topic, index))
        if partition is None:
            return OffsetResult(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        target = partition.high_watermark if offset == -1 else offset
        if target < partition.log.start_offset or target > partition.high_watermark:
            return OffsetResult(ErrorCode.OFFSET_OUT_OF_RANGE, partition.log.start_offset)
        await partition.log.prefix_truncate(target)
        return OffsetResult(0, partition.log.start_offset)

    def epoch_end_offset(self, topic: str, index: int, epoch: int,
                         current_epoch: int) -> OffsetResult:
        """OffsetForLeaderEpoch: (largest epoch <= epoch, the offset where it ended)."""
        partition = self.partitions.get((topic, index))
        if partition is None:
            return OffsetResult(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        if current_epoch >= 0 and current_epoch != partition.leader_epoch:
            fenced = current_epoch < partition.leader_epoch
            return OffsetResult(ErrorCode.FENCED_LEADER_EPOCH if fenced
                                else ErrorCode.UNKNOWN_LEADER_EPOCH)
        found_epoch, end = -1, -1
        for segment in partition.log.segments:
            if segment.term > epoch:
                end = segment.base_offset
                break
            found_epoch = segment.term
        if found_epoch < 0 and epoch >= partition.leader_epoch:
            found_epoch = partition.leader_epoch
        if found_epoch < 0:
            return OffsetResult(0, -1, -1, -1)
        return OffsetResult(0, partition.high_watermark if end < 0 else end, -1, found_epoch)

    def describe(self) -> list[tuple[str, int, int]]:
        """(topic, partition, size in bytes) of every partition here (DescribeLogDirs)."""
        return [(t, p, sum(s.size_bytes for s in part.log.segments))
                for (t, p), part in self.partitions.items()]

