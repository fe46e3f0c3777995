"""The log of one partition: an ordered list of segments with offsets, terms and watermarks.

Owns offset assignment, the log start / end / durable offsets and the high watermark, and
every structural change (roll, truncate, prefix-truncate, segment removal). Invariant: offsets
only grow by append, a durable append is acknowledged only after the flush that covered it,
and nothing below the start offset or past a truncation point is ever served. Never writes
files itself: file changes go through the shard's I/O thread in order.

The facade callers use; its other roles live beside it: reads (`log_reads.py`), retention and
compaction install (`log_housekeeping.py`), durability futures (`durable_waiters.py`) and the
meta file (`partition_meta.py`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from typing import Any

import msgspec

from panda.runtime.logs import logger
from panda.storage import record_batch as rb
from panda.storage.batch_cache import BatchCache
from panda.storage.config import StorageConfig, TopicConfig
from panda.storage.durable_waiters import DurableWaiters
from panda.storage.errors import (
    CorruptBatchError,
    DiskFullError,
    LogClosedError,
    LogTruncatedError,
    OffsetOutOfRangeError,
    StorageError,
    StorageIOError,
)
from panda.storage.file_io import is_disk_full
from panda.storage.flusher import Flusher
from panda.storage.index import SegmentIndex
from panda.storage.io_thread import IOThread
from panda.storage.log_flush import LogFlush, SkippedFlushError
from panda.storage.log_housekeeping import LogHousekeeping
from panda.storage.log_reads import LogReads
from panda.storage.partition_meta import PartitionMeta, read_meta, write_meta
from panda.storage.probe import StorageProbe
from panda.storage.recovery import RecoveryReport, recover_directory
from panda.storage.segment import (
    Segment,
    close_files,
    remove_files,
    seal_file,
    truncate_file,
    write_checkpoint,
)
from panda.storage.write_buffer import WriteBufferPool

log = logger("panda.storage")


@dataclass
class Shared:
    """What every log of a shard shares; the LogManager owns it."""

    config: StorageConfig
    io_thread: IOThread
    flusher: Flusher
    cache: BatchCache
    probe: StorageProbe
    buffer_pool: WriteBufferPool


class PartitionLog(LogReads, LogHousekeeping):
    """One partition's log. Create with `await PartitionLog.open(...)` (or via LogManager)."""

    _ids = 0

    def __init__(self, name: str, directory: str, topic: TopicConfig, shared: Shared) -> None:
        PartitionLog._ids += 1
        self.log_id = PartitionLog._ids
        self.name = name
        self.directory = directory
        self.topic = topic
        self._shared = shared
        self._config = shared.config
        self.segments: list[Segment] = []
        self.start_offset = 0
        self.next_offset = 0
        self.durable_offset = 0
        self.high_watermark = 0
        self.hwm_follows_durable = True  # single replica: what is synced is committed
        self.recovery: RecoveryReport | None = None
        self._to_seal: list[Segment] = []
        self._dir_dirty = False
        self._waiters = DurableWaiters()
        self._flushing: deque[LogFlush] = deque()  # queued on the I/O thread, oldest first
        self._chained: LogFlush | None = None  # the flush a new one queues behind
        self._failed: StorageError | None = None
        self._closed = False
        self.compaction_signature: tuple[tuple[int, int], ...] = ()  # closed segments compacted

    @classmethod
    async def open(
        cls, name: str, directory: str, topic: TopicConfig, shared: Shared
    ) -> PartitionLog:
        self = cls(name, directory, topic, shared)
        os.makedirs(directory, exist_ok=True)
        segments, report = await shared.io_thread.run(
            recover_directory,
            directory,
            shared.config.index_interval_bytes,
            shared.config.direct_io,
            shared.io_thread.io,
            shared.probe,
        )
        self.segments, self.recovery = segments, report
        meta = read_meta(directory)
        first = segments[0].base_offset if segments else 0
        self.next_offset = segments[-1].next_offset if segments else meta.start_offset
        self.start_offset = max(meta.start_offset, first)
        self.next_offset = max(self.next_offset, self.start_offset)
        self.durable_offset = self.high_watermark = self.next_offset
        return self

    # --- append --------------------------------------------------------------------------

    @property
    def term(self) -> int:
        return self.segments[-1].term if self.segments else 0

    @property
    def durable_waiting(self) -> bool:
        return bool(self._waiters)

    async def append(
        self, batch: rb.Buffer, *, term: int | None = None, durable: bool = False
    ) -> int:
        """Append one client record batch; returns its base offset. With durable=True, return
        only once the batch is fsynced (group commit)."""
        started_ns = time.perf_counter_ns()
        for _ in range(1024):
            if self._pending_bytes() + len(batch) <= self._config.pending_bytes_max:
                break
            self._shared.flusher.schedule(self, durable=True)
            await self._shared.flusher.wait_taken()
            self._check_writable()
        base_offset, last_offset = self.append_nowait(batch, term=term)
        if durable:
            await self.wait_durable(last_offset + 1)
            self._shared.probe.durable_append_completed(
                (time.perf_counter_ns() - started_ns) // 1000
            )
        return base_offset

    def append_nowait(self, batch: rb.Buffer, *, term: int | None = None) -> tuple[int, int]:
        """Append without waiting: validate CRC, assign offsets, rewrite base offset and leader
        epoch (= term). Returns (base_offset, last_offset)."""
        self._check_writable()
        header = self._validate(batch)
        term = self.term if term is None else term
        if term < self.term:
            raise ValueError(f"{self.name}: append with term {term} < current term {self.term}")
        base_offset = self.next_offset
        header = msgspec.structs.replace(
            header, base_offset=base_offset, partition_leader_epoch=term
        )
        stored = self._segment_for_append(len(batch), term).append(batch, header, term)
        self.next_offset = header.next_offset
        self._shared.cache.put_copy(self.log_id, base_offset, stored)
        stored.release()
        self._shared.probe.appended(len(batch))
        self._shared.flusher.schedule(self, durable=False, appended_bytes=len(batch))
        return base_offset, header.last_offset

    def _validate(self, batch: rb.Buffer) -> rb.RecordBatchHeader:
        if len(batch) > self._config.batch_bytes_max:
            raise CorruptBatchError(f"batch of {len(batch)} bytes > {self._config.batch_bytes_max}")
        header = rb.read_header(batch)  # the CRC is checked once copied (Segment.append)
        if header.size_bytes != len(batch):
            raise CorruptBatchError(f"{len(batch)} bytes hold a batch of {header.size_bytes}")
        return header

    def _check_writable(self) -> None:
        if self._closed:
            raise LogClosedError(f"{self.name} is closed")
        if self._failed is not None:
            raise self._failed

    def _pending_bytes(self) -> int:
        """Appended bytes not yet handed to the I/O thread (the write in flight not counted:
        appends fill the next write while the current one runs)."""
        return sum(s.pending.size_bytes for s in self._unsynced_segments())

    async def wait_durable(self, offset: int) -> None:
        """Return once every offset < offset is fsynced."""
        if self.durable_offset >= offset:
            return
        self._check_writable()
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((offset, future, time.perf_counter_ns()))
        self._shared.flusher.schedule(self, durable=True)
        await future

    def _segment_for_append(self, size: int, term: int) -> Segment:
        active = self.segments[-1] if self.segments else None
        if active is not None and not self._should_roll(active, size, term):
            return active
        if active is not None and active.index.empty:
            self._remove_segments([self.segments.pop()])
        elif active is not None:
            active.close_for_appends()
            self._to_seal.append(active)
        return self._create_segment(term)

    def _should_roll(self, active: Segment, size: int, term: int) -> bool:
        if term != active.term:
            return True
        if active.index.empty:
            return False
        if active.size_bytes + size > self.topic.segment_bytes:
            return True
        return int(time.time() * 1000) - active.created_ms >= self.topic.segment_ms

    def _create_segment(self, term: int) -> Segment:
        index = SegmentIndex(self.next_offset, self._config.index_interval_bytes)
        segment = Segment(
            self.directory,
            index,
            term,
            direct=self._config.direct_io,
            pool=self._shared.buffer_pool,
        )
        segment.open_files(self._shared.io_thread.io, writable=True)
        self.segments.append(segment)
        self._dir_dirty = True
        return segment

    # --- flush (called by the Flusher) ------------------------------------------------------

    def _unsynced_segments(self) -> list[Segment]:
        active = self.segments[-1:] if self.segments else []
        return [s for s in self._to_seal if s not in active] + active

    def begin_flush(self) -> LogFlush | None:
        if self._failed is not None:
            return None  # failed closed: nothing more reaches the disk until reopened
        writes = [w for w in (s.take_write() for s in self._unsynced_segments()) if w is not None]
        if not (writes or self._dir_dirty):
            if not self._flushing:  # nothing unwritten, nothing in flight: all is synced
                self.durable_offset = self.next_offset
                self._advance_hwm()
                self._resolve_waiters()
            return None
        directory = self.directory if self._dir_dirty else None
        self._dir_dirty = False
        job = LogFlush(
            writes,
            [],
            directory,
            self.next_offset,
            self._config.fallocate_bytes,
            previous=self._chained,
        )
        self._flushing.append(job)
        self._chained = job
        return job

    def end_flush(self, job: Any, error: BaseException | None) -> None:
        assert isinstance(job, LogFlush) and self._flushing[0] is job, "flushes end in order"
        self._flushing.popleft()
        if self._chained is job:
            self._chained = None
        for write in job.written:
            write.segment.write_done(write)
        if error is not None and not isinstance(error, SkippedFlushError):
            self._flush_failed(error)  # truncates while the failed tail is still readable
        for write in job.writes:
            write.segment.release_write(write)
        if error is not None or self._failed is not None:
            return  # a skipped flush: the failure before it already failed or truncated
        target = min(job.durable_offset, self.next_offset)
        self.durable_offset = max(self.durable_offset, target)
        self._advance_hwm()
        self._resolve_waiters()
        self._start_seals()
        self._checkpoint_active()

    def _checkpoint_active(self) -> None:
        if not self.segments:
            return
        active = self.segments[-1]
        index = active.take_checkpoint(self._config.index_checkpoint_bytes)
        if index is not None:
            io = self._shared.io_thread.io
            self._shared.io_thread.submit(write_checkpoint, active, index, io)

    def _start_seals(self) -> None:
        """Seal closed segments whose data is synced. Runs after the acknowledgements, so a
        roll costs the next cycle (FIFO I/O thread), never the appends already synced."""
        for segment in self._to_seal:
            synced = segment.written == segment.size_bytes and not segment.inflight
            if synced and not segment.sealing and segment.write_fd is not None:
                segment.sealing = True
                future = self._shared.io_thread.run(seal_file, segment, self._shared.io_thread.io)
                future.add_done_callback(functools.partial(self._sealed, segment))

    def _sealed(self, segment: Segment, future: asyncio.Future[None]) -> None:
        segment.sealing = False
        error = future.exception()
        if error is not None:
            log.bind(partition=self.name).error("sealing %s failed: %r", segment.path, error)
            if not isinstance(error, OSError) or not is_disk_full(error):
                self._failed = StorageIOError(f"{self.name}: seal failed: {error}")
            return
        if segment in self._to_seal:  # else truncated back into the active one meanwhile
            segment.sealed = True
            self._to_seal.remove(segment)

    def _resolve_waiters(self) -> None:
        if self._waiters.resolve(self.durable_offset):
            self._shared.flusher.schedule(self, durable=True)

    def _flush_failed(self, error: BaseException) -> None:
        disk_full = isinstance(error, OSError) and is_disk_full(error)
        self._shared.probe.io_failed(disk_full)
        errno = getattr(error, "errno", None)
        if not disk_full:
            self._failed = StorageIOError(f"{self.name}: write failed: {error}", errno)
            log.bind(partition=self.name).error("I/O error, log fails closed: %r", error)
            self._waiters.fail(self._failed)
            return
        lost = self.next_offset - self.durable_offset
        log.bind(partition=self.name).warning("disk full; dropping %d unsynced offsets", lost)
        failure = DiskFullError(f"{self.name}: no space left on device", errno)
        self._truncate_now(self.durable_offset, failure)
        self._chained = None  # the file is cut back: flushes started from now on write again

    # --- truncation -------------------------------------------------------------------------

    async def truncate(self, offset: int) -> None:
        """Raft truncation: remove every batch holding an offset >= offset (a batch that
        straddles offset goes whole). Returns once the files are cut."""
        self._check_writable()
        if offset < self.start_offset:
            raise OffsetOutOfRangeError(offset, self.start_offset, self.next_offset)
        if offset >= self.next_offset:
            return
        self._truncate_now(offset, LogTruncatedError(f"{self.name}: truncated at {offset}"))
        await self._shared.io_thread.barrier()

    def _truncate_now(self, offset: int, error: StorageError) -> None:
        bases = [s.base_offset for s in self.segments]
        i = max(bisect_right(bases, offset) - 1, 0)
        segment = self.segments[i]
        position, new_end = segment.locate(offset)
        self._remove_segments(self.segments[i + 1 :])
        del self.segments[i + 1 :]
        self._shared.cache.invalidate_from(self.log_id, new_end)
        if segment.sealed or segment in self._to_seal:
            self._unseal(segment)
        segment.truncate(position, new_end)
        self._shared.io_thread.submit(truncate_file, segment, self._shared.io_thread.io, position)
        self.next_offset = max(new_end, self.start_offset)
        for job in self._flushing:  # in flight: must not report the cut offsets durable
            job.floor_offset = min(job.floor_offset, new_end)
        self.durable_offset = min(self.durable_offset, self.next_offset)
        self.high_watermark = min(self.high_watermark, self.next_offset)
        self._waiters.fail(error, above=new_end)

    def _unseal(self, segment: Segment) -> None:
        if segment in self._to_seal:
            self._to_seal.remove(segment)
        segment.sealed = segment.closed = False
        io = self._shared.io_thread.io

        def reopen() -> None:
            io.unlink(segment.index_path)
            if segment.write_fd is None:
                segment.write_fd = io.open_write(segment.path, segment.direct)
            segment.allocated = os.fstat(segment.write_fd).st_size

        self._shared.io_thread.submit(reopen)

    async def prefix_truncate(self, offset: int) -> None:
        """DeleteRecords / retention: the log now starts at offset; whole segments below it go."""
        self._check_writable()
        if offset <= self.start_offset:
            return
        if offset > self.next_offset:
            raise OffsetOutOfRangeError(offset, self.start_offset, self.next_offset)
        self.start_offset = offset
        await write_meta(self._shared.io_thread, self.directory, PartitionMeta(start_offset=offset))
        self._shared.cache.invalidate_below(self.log_id, offset)
        doomed = [s for s in self.segments[:-1] if s.next_offset <= offset]
        self._drop_front(doomed)

    def _drop_front(self, doomed: list[Segment]) -> None:
        if doomed:
            self.segments = self.segments[len(doomed) :]
            self._remove_segments(doomed)

    def _remove_segments(self, segments: list[Segment]) -> None:
        io = self._shared.io_thread.io
        for segment in segments:
            if segment in self._to_seal:
                self._to_seal.remove(segment)
            self._shared.io_thread.submit(remove_files, segment, io)
            self._shared.probe.segment_deleted()
        if segments:
            self._dir_dirty = True

    def _advance_hwm(self) -> None:
        if self.hwm_follows_durable:
            self.high_watermark = max(self.high_watermark, self.durable_offset)

    def set_high_watermark(self, offset: int) -> None:
        """For Raft (after setting hwm_follows_durable = False): the commit index decides;
        clamped to the log end."""
        self.high_watermark = min(offset, self.next_offset)

    @property
    def shared(self) -> Shared:
        return self._shared

    # --- lifecycle --------------------------------------------------------------------------

    async def flush(self) -> None:
        """Make every appended batch durable and seal the closed segments."""
        await self.wait_durable(self.next_offset)
        self._start_seals()
        if any(s.sealing for s in self._to_seal):
            await self._shared.io_thread.barrier()

    async def close(self) -> None:
        """Flush, seal the active segment (so reopening needs no scan) and close the files."""
        if self._closed:
            return
        if self._failed is None:
            await self.flush()
            if self.segments and not self.segments[-1].index.empty:
                self._to_seal.append(self.segments[-1])
            self._start_seals()
            await self._shared.io_thread.barrier()
        self._closed = True
        self._waiters.fail(LogClosedError(f"{self.name} is closed"))
        self._shared.cache.drop_log(self.log_id)
        for segment in self.segments:
            self._shared.io_thread.submit(close_files, segment, self._shared.io_thread.io)
        await self._shared.io_thread.barrier()

    def statistics(self) -> dict[str, int]:
        return {
            "start_offset": self.start_offset,
            "next_offset": self.next_offset,
            "durable_offset": self.durable_offset,
            "high_watermark": self.high_watermark,
            "segments": len(self.segments),
            "size_bytes": sum(s.size_bytes for s in self.segments),
        }

