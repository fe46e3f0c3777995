"""Group commit for every partition log of a shard.

Owns the flush cycle: take the unwritten tail of every dirty log, write and fdatasync them all
on the I/O thread, then complete each durable append the cycle covered. Invariant: an append
is reported durable only after an fdatasync that started after the append was written; at most
one cycle runs at a time and the next starts at once when durable appends are waiting.
Never writes or syncs on the reactor thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import TYPE_CHECKING, Protocol

from panda.storage.io_thread import IOThread
from panda.storage.probe import StorageProbe

if TYPE_CHECKING:
    from panda.storage.file_io import FileIO


class FlushJob(Protocol):
    size_bytes: int
    syncs: int

    def write(self, io: FileIO) -> BaseException | None: ...

    def sync(self, io: FileIO) -> BaseException | None: ...


class Flushable(Protocol):
    def begin_flush(self) -> FlushJob | None: ...

    def end_flush(self, job: FlushJob, error: BaseException | None) -> None: ...

    @property
    def durable_waiting(self) -> bool: ...


class Flusher:
    """One per shard: schedules and runs flush cycles across all logs."""

    def __init__(
        self, io_thread: IOThread, probe: StorageProbe, debounce_us: int, interval_ms: int
    ) -> None:
        self._io_thread = io_thread
        self._probe = probe
        self._debounce_s = debounce_us / 1e6
        self._interval_s = interval_ms / 1e3
        self._dirty: dict[Flushable, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._task: asyncio.Task[None] | None = None
        self._cycle_done: asyncio.Event | None = None
        self._taken: asyncio.Event | None = None  # set when a cycle takes the pending bytes
        self._closed = False

    def schedule(self, log: Flushable, durable: bool) -> None:
        """log has unwritten data (durable: someone awaits its sync): plan a cycle."""
        self._dirty[log] = None
        if self._task is not None:
            return  # the running cycle loop picks it up
        self._arm(self._debounce_s if durable else self._interval_s)

    async def wait_cycle(self) -> None:
        """Wait for the end of the next flush cycle (starting one if none is planned)."""
        if self._cycle_done is None:
            self._cycle_done = asyncio.Event()
        event = self._cycle_done
        if self._task is None:
            self._arm(0.0)
        await event.wait()

    async def wait_taken(self) -> None:
        """Wait until the next cycle takes the logs' pending bytes (back-pressure: appends
        then fill the next write while this one runs)."""
        if self._taken is None:
            self._taken = asyncio.Event()
        event = self._taken
        if self._task is None:
            self._arm(0.0)
        await event.wait()

    def _urgent(self) -> bool:
        """Someone waits on the next cycle: run it now rather than after flush_interval_ms."""
        if self._taken is not None or self._cycle_done is not None:
            return True
        return any(log.durable_waiting for log in self._dirty)

    def _arm(self, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + delay_s
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = loop.call_at(due, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run_cycles())

    async def _run_cycles(self) -> None:
        try:
            for _ in range(1_000_000_000):  # bounded: one iteration per flush cycle
                await self._cycle()
                if not self._urgent():
                    break
        finally:
            self._task = None
        if self._dirty:
            self._arm(self._interval_s)

    async def _cycle(self) -> None:
        logs = list(self._dirty)
        self._dirty.clear()
        event, self._cycle_done = self._cycle_done, None
        jobs = [(log, log.begin_flush()) for log in logs]
        work = [(log, job) for log, job in jobs if job is not None]
        taken, self._taken = self._taken, None
        if taken is not None:
            taken.set()
        started_ns = time.perf_counter_ns()
        try:
            errors = await self._io_thread.run(
                _run_jobs, [job for _, job in work], self._io_thread.io
            )
        except Exception as bug:  # a broken invariant: fail every log loudly, then re-raise
            for log, job in work:
                log.end_flush(job, bug)
            raise
        latency_us = (time.perf_counter_ns() - started_ns) // 1000
        for (log, job), error in zip(work, errors):
            log.end_flush(job, error)
        size = sum(job.size_bytes for _, job in work)
        self._probe.flushed(latency_us, size, sum(job.syncs for _, job in work))
        if event is not None:
            event.set()

    async def close(self) -> None:
        """Run a last cycle for whatever is dirty, then stop scheduling."""
        for _ in range(16):
            if self._task is not None:
                await self._task
            if not self._dirty:
                break
            self._start()
        if self._task is not None:
            await self._task
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _run_jobs(jobs: list[FlushJob], io: FileIO) -> list[BaseException | None]:
    """I/O thread: write and sync every log's tail; one log's failure spares the others.

    Logs are independent files, so with several of them their write+sync pairs run side by
    side: measured here, 6 files synced one after the other took 13 ms (p50), side by side
    0.2 ms, the device and the journal absorbing the concurrent flushes together."""
    if len(jobs) == 1:
        return [_write_and_sync(jobs[0], io)]
    return list(_sync_pool().map(_write_and_sync, jobs, [io] * len(jobs)))


def _write_and_sync(job: FlushJob, io: FileIO) -> BaseException | None:
    return job.write(io) or job.sync(io)


_pool: concurrent.futures.ThreadPoolExecutor | None = None
SYNC_THREADS_MAX = 8


def _sync_pool() -> concurrent.futures.ThreadPoolExecutor:
    """Threads for concurrent per-log write+sync, made in the shard process on first use."""
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(SYNC_THREADS_MAX, "storage-sync")
    return _pool
