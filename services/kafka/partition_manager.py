"""Partitions on this shard: one log each (a one-replica Raft group in waiting), produce,
fetch, offsets, and the "new data" signal long-poll fetches wait on.

Owns the shard's LogManager and every partition the topic table assigns to this shard;
reconciles them with each new table version. Never decodes records on the produce and fetch
paths: batches stay opaque except for header checks (ListOffsets by time alone decodes the
batch the time index points at). acks=all completes only after the batch is fsynced.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from typing import Any

import msgspec

from panda import runtime
from panda.runtime import ALL, Service
from panda.services.controller import Controller, TopicTable
from panda.storage import read_ahead
from panda.storage import record_batch as rb
from panda.storage.config import StorageConfig
from panda.storage.errors import StorageError
from panda.storage.log_manager import LogManager
from panda.storage.partition_log import PartitionLog

from . import topic_config
from .errors import code, code_for

log = logging.getLogger("panda.services.kafka.partitions")
TIME_SCAN_BYTES_MAX = 1 << 20       # ListOffsets by time: bytes read per step past the index
TIME_SCAN_STEPS_MAX = 64            # ... and steps before giving up (the index is sparse)
FETCH_REPLY_SLACK_BYTES = 1 << 20   # room a fetch reply keeps under message_bytes_max for fields
IDEMPOTENT_BATCHES_KEPT = 5          # per producer, as Kafka keeps for retries in flight
PRODUCERS_TRACKED_MAX = 10_000       # per partition; the oldest is forgotten first


class ProducePart(msgspec.Struct, array_like=True):
    topic: str
    partition: int
    records: bytes


class ProduceResult(msgspec.Struct, array_like=True):
    error_code: int = 0
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    error_message: str | None = None
    append_us: int = 0          # where the owner spent its time, for the slow-request log
    fsync_us: int = 0


class FetchPart(msgspec.Struct, array_like=True):
    topic: str
    partition: int
    offset: int
    max_bytes: int


class FetchResult(msgspec.Struct, array_like=True):
    error_code: int = 0
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes = b""


class OffsetResult(msgspec.Struct, array_like=True):
    error_code: int = 0
    offset: int = -1
    timestamp: int = -1
    leader_epoch: int = -1


class Partition:
    """One partition on its owning shard: the log, its epoch and its data waiters."""

    def __init__(self, topic: str, index: int, log: PartitionLog, configs: dict[str, str]):
        self.topic = topic
        self.index = index
        self.log = log
        self.leader_epoch = 0
        self.configure(configs)
        self._waiters: list[asyncio.Future] = []
        self._producers: dict[int, collections.deque] = {}     # id -> recent batches

    def configure(self, configs: dict[str, str]) -> None:
        effective = topic_config.effective(configs)
        self.max_message_bytes = int(effective["max.message.bytes"])
        self.log_append_time = effective["message.timestamp.type"] == "LogAppendTime"
        self.log.topic = topic_config.storage_config(configs)

    def duplicate_of(self, header) -> int | None:
        """Base offset of an earlier append of this idempotent batch (a producer retry)."""
        if header.producer_id < 0 or header.base_sequence < 0:
            return None
        for epoch, sequence, offset in self._producers.get(header.producer_id, ()):
            if epoch == header.producer_epoch and sequence == header.base_sequence:
                return offset
        return None

    def remember(self, header, offset: int) -> None:
        if header.producer_id < 0 or header.base_sequence < 0:
            return
        recent = self._producers.setdefault(
            header.producer_id, collections.deque(maxlen=IDEMPOTENT_BATCHES_KEPT))
        recent.append((header.producer_epoch, header.base_sequence, offset))
        if len(self._producers) > PRODUCERS_TRACKED_MAX:
            self._producers.pop(next(iter(self._producers)))

    @property
    def high_watermark(self) -> int:
        """What consumers may read: the log's committed offset. With one replica that is the
        fsynced offset, so a consumer never sees a record a crash could take back."""
        return self.log.high_watermark

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    def add_waiter(self, future: asyncio.Future) -> None:
        self._waiters.append(future)


class PartitionManager(Service):
    name = "partition_manager"
    shards = ALL
    depends = (Controller,)

    def __init__(self) -> None:
        self.partitions: dict[tuple[str, int], Partition] = {}
        self._reconciling = asyncio.Lock()

    async def start(self) -> None:
        config = runtime.current().config
        self._fetch_bytes_max = max(1 << 20, config.message_bytes_max - FETCH_REPLY_SLACK_BYTES)
        self.logs = LogManager(StorageConfig(
            data_dir=os.path.join(config.data_dir, "kafka"),
            flush_debounce_us=config.flush_debounce_us))
        await self.logs.start()
        self._register_metrics(runtime.current().metrics)
        controller = runtime.service(Controller).local()
        controller.subscribe(self._reconcile)
        await self._reconcile(controller.table)

    def _register_metrics(self, metrics) -> None:
        self._traffic: dict[str, list[int]] = {}    # topic -> bytes/records in, bytes/records out
        for index, (name, what) in enumerate((
                ("panda_kafka_topic_bytes_in_total", "Record batch bytes appended"),
                ("panda_kafka_topic_records_in_total", "Records appended"),
                ("panda_kafka_topic_bytes_out_total", "Record batch bytes served to fetches"),
                ("panda_kafka_topic_records_out_total", "Records served to fetches"))):
            metrics.dynamic(name, "counter", what + ", per topic, on the owning shard",
                            lambda i=index: [({"topic": t}, v[i]) for t, v in self._traffic.items()])
        self._register_storage_metrics(metrics)
        metrics.dynamic("panda_kafka_partition_high_watermark", "gauge",
                        "High watermark (next offset a consumer can read) per partition",
                        lambda: [({"topic": t, "partition": str(p)}, part.high_watermark)
                                 for (t, p), part in self.partitions.items()])
        metrics.dynamic("panda_kafka_partition_log_start_offset", "gauge",
                        "First offset still in the log per partition",
                        lambda: [({"topic": t, "partition": str(p)}, part.log.start_offset)
                                 for (t, p), part in self.partitions.items()])

    def _register_storage_metrics(self, metrics) -> None:
        self.logs.register_metrics(metrics)
        self._fsync_wait = metrics.histogram(
            "panda_kafka_produce_fsync_wait_seconds",
            "acks=all produce: time from append to durable (group-commit fsync)")

    def _count(self, topic: str, slot: int, nbytes: int, records: int) -> None:
        traffic = self._traffic.get(topic)
        if traffic is None:
            traffic = self._traffic[topic] = [0, 0, 0, 0]
        traffic[slot] += nbytes
        traffic[slot + 1] += records

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
                self._traffic.pop(key[0], None)
                partition.notify()
                await self.logs.remove_log(f"{key[0]}-{key[1]}")
            for (name, index), topic in wanted.items():
                existing = self.partitions.get((name, index))
                if existing is None:
                    log_ = await self.logs.open_log(f"{name}-{index}",
                                                    topic_config.storage_config(topic.configs))
                    self.partitions[(name, index)] = Partition(name, index, log_, topic.configs)
                else:
                    existing.configure(topic.configs)

    # -- produce --------------------------------------------------------------------------
    async def produce(self, parts: list[ProducePart], acks: int) -> list[ProduceResult]:
        """Append each part's batches; with acks=-1 return after they are fsynced."""
        return list(await asyncio.gather(*(self._produce_one(p, acks) for p in parts)))

    async def _produce_one(self, part: ProducePart, acks: int) -> ProduceResult:
        partition = self.partitions.get((part.topic, part.partition))
        if partition is None:
            return ProduceResult(code("NOT_LEADER_OR_FOLLOWER"))
        try:
            batches = self._split(part.records, partition)
        except _Reject as reject:
            return ProduceResult(code(reject.code), error_message=str(reject))
        append_time = int(time.time() * 1000) if partition.log_append_time else -1
        started = time.perf_counter_ns()
        synced = started
        try:
            base_offset = -1
            last = partition.log.next_offset - 1
            for batch, header in batches:
                offset = partition.duplicate_of(header)
                if offset is None:
                    if append_time >= 0:
                        rb.set_log_append_time(batch, 0, header, append_time)
                    offset, last = partition.log.append_nowait(batch)
                    partition.remember(header, offset)
                    self._count(part.topic, 0, len(batch), header.records_count)
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
                raise _Reject("MESSAGE_TOO_LARGE",
                              f"batch of {header.size_bytes} bytes is over max.message.bytes "
                              f"({partition.max_message_bytes})")
            batch = view[offset: offset + header.size_bytes]
            batches.append((bytearray(batch) if partition.log_append_time else batch, header))
        if batches_iter.torn or not batches:
            error = batches_iter.stop_error
            name = "UNSUPPORTED_FOR_MESSAGE_FORMAT" if "magic" in str(error) else "CORRUPT_MESSAGE"
            raise _Reject(name, f"bad record batch: {error or 'no batches'}")
        if len(batches) > 1:
            for batch, _ in batches:
                try:
                    rb.validate_crc(batch)
                except StorageError as exc:
                    raise _Reject("CORRUPT_MESSAGE", f"bad record batch: {exc}") from None
        return batches

    # -- fetch ----------------------------------------------------------------------------
    async def fetch(self, parts: list[FetchPart],
                    max_bytes: int | None = None) -> list[FetchResult]:
        """Read each part from its offset (whole batches, below the high watermark), about
        max_bytes in all and never more than one cross-shard reply holds. The first part with
        data comes whole even past the limit (KIP-74); once the limit is reached the others
        answer with their watermarks and no records (they wait their turn). Cold parts are
        read ahead off the reactor first: a lagging consumer's disk reads took 5-20 ms, and
        the shard used to stall on them."""
        budget = min(max_bytes or self._fetch_bytes_max, self._fetch_bytes_max)
        await self._read_ahead(parts, budget)
        results: list[FetchResult] = []
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

    def _fetch_one(self, part: FetchPart, room: int | None = None) -> FetchResult:
        """One part's batches; with `room` set, only if they fit in `room` bytes."""
        partition = self.partitions.get((part.topic, part.partition))
        if partition is None:
            return FetchResult(code("NOT_LEADER_OR_FOLLOWER"))
        log_ = partition.log
        hw = partition.high_watermark
        if room is not None and room <= 0:
            if not log_.start_offset <= part.offset <= log_.next_offset:
                return FetchResult(code("OFFSET_OUT_OF_RANGE"), hw, log_.start_offset)
            return FetchResult(0, hw, log_.start_offset)
        try:
            limit = part.max_bytes if room is None else min(part.max_bytes, room)
            result = log_.read(part.offset, limit, upto=hw)
        except StorageError as exc:
            return FetchResult(code_for(exc), hw, log_.start_offset)
        if room is not None and result.size_bytes > room:
            return FetchResult(0, hw, log_.start_offset)      # its first batch does not fit
        if result.batches:
            records = sum(rb.read_header(batch).records_count for batch in result.batches)
            self._count(part.topic, 2, result.size_bytes, records)
        return FetchResult(0, hw, log_.start_offset, result.to_bytes())

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
                _when_durable(partition, future)
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
            return OffsetResult(code("NOT_LEADER_OR_FOLLOWER"))
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
                found, found_time = _first_record_at(log_, found, timestamp,
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
            return OffsetResult(code("NOT_LEADER_OR_FOLLOWER"))
        target = partition.high_watermark if offset == -1 else offset
        if target < partition.log.start_offset or target > partition.high_watermark:
            return OffsetResult(code("OFFSET_OUT_OF_RANGE"), partition.log.start_offset)
        await partition.log.prefix_truncate(target)
        return OffsetResult(0, partition.log.start_offset)

    def epoch_end_offset(self, topic: str, index: int, epoch: int,
                         current_epoch: int) -> OffsetResult:
        """OffsetForLeaderEpoch: (largest epoch <= epoch, the offset where it ended)."""
        partition = self.partitions.get((topic, index))
        if partition is None:
            return OffsetResult(code("NOT_LEADER_OR_FOLLOWER"))
        if current_epoch >= 0 and current_epoch != partition.leader_epoch:
            name = "FENCED_LEADER_EPOCH" if current_epoch < partition.leader_epoch else (
                "UNKNOWN_LEADER_EPOCH")
            return OffsetResult(code(name))
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


def _first_record_at(log_: PartitionLog, offset: int, timestamp: int,
                     upto: int) -> tuple[int, int]:
    """(offset, timestamp) of the first record at or after `offset` whose timestamp is at
    least `timestamp`, as Kafka answers ListOffsets (the time index finds only the batch);
    (-1, -1) if none within the scan bounds."""
    for _ in range(TIME_SCAN_STEPS_MAX):
        result = log_.read(offset, TIME_SCAN_BYTES_MAX, upto=upto)
        if not result.batches:
            break
        for batch in result.batches:
            header = rb.read_header(batch)
            if header.is_control or header.max_timestamp < timestamp:
                continue
            for record in rb.decode_records(batch):
                if record.offset >= offset and record.timestamp >= timestamp:
                    return record.offset, record.timestamp
        offset = result.next_offset
    return -1, -1


def _when_durable(partition: Partition, future: asyncio.Future) -> None:
    """Sync the partition's appended tail now; settle `future` when it is committed."""

    def settle(task: asyncio.Task) -> None:
        if not future.done() and not task.cancelled() and task.exception() is None:
            future.set_result(None)

    task = asyncio.get_running_loop().create_task(
        partition.log.wait_durable(partition.log.next_offset))
    task.add_done_callback(settle)


class _Reject(Exception):
    def __init__(self, code_name: str, message: str):
        super().__init__(message)
        self.code = code_name
