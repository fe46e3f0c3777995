"""All partition logs of one shard, with the pieces they share.

Owns the shard's I/O thread, group-commit flusher, batch cache, probe and the background
housekeeping (retention, compaction). Invariant: one manager per data directory per process,
and every log it opened is closed by stop(). Never needs a running shard: any asyncio/uvloop
loop drives it, configured by a StorageConfig; `register_metrics` joins a shard's registry.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Mapping

from panda.runtime.logs import logger
from panda.runtime.metrics import MetricsRegistry
from panda.storage.batch_cache import BatchCache
from panda.storage.config import StorageConfig, TopicConfig
from panda.storage.errors import LogClosedError, StorageError
from panda.storage.file_io import ALIGN_BYTES, FileIO
from panda.storage.flusher import Flusher
from panda.storage.io_thread import IOThread
from panda.storage.partition_log import PartitionLog, Shared
from panda.storage.probe import StorageProbe
from panda.storage.write_buffer import THP_MODE_PATH, WriteBufferPool, huge_pages_off

log = logger("panda.storage")


class LogManager:
    """Per-shard owner of partition logs: `await LogManager(config).start()`."""

    def __init__(self, config: StorageConfig, io: FileIO | None = None) -> None:
        self.config = config
        self.probe = StorageProbe()
        self._io = io or FileIO()
        self._shared: Shared | None = None
        self._logs: dict[str, PartitionLog] = {}
        self._opening: dict[str, asyncio.Future[PartitionLog]] = {}
        self._housekeeper: asyncio.Task[None] | None = None
        self._housekeeping_io: IOThread | None = None

    async def start(self, housekeeping: bool = True) -> LogManager:
        os.makedirs(self.config.data_dir, exist_ok=True)
        if self.config.direct_io and huge_pages_off():
            log.warning(
                "transparent huge pages are off (%s): O_DIRECT writes go out in small device "
                "requests, about a third slower on the measured disk; set it to 'madvise'",
                THP_MODE_PATH,
            )
        io_thread = IOThread(self._io)
        flusher = Flusher(
            io_thread,
            self.probe,
            self.config.flush_debounce_us,
            self.config.flush_interval_ms,
            self.config.flush_trigger_bytes,
        )
        cache = BatchCache(self.config.batch_cache_bytes_max)
        pool = WriteBufferPool(
            self.config.write_buffers_pooled_max,
            self.config.write_buffer_bytes_min,
            self.config.pending_bytes_max + 2 * ALIGN_BYTES,  # a full tail plus write padding
        )
        self._shared = Shared(self.config, io_thread, flusher, cache, self.probe, pool)
        self._housekeeping_io = IOThread(FileIO(), name="storage-housekeeping")
        if housekeeping:
            self._housekeeper = asyncio.get_running_loop().create_task(self._housekeep())
        return self

    def register_metrics(self, metrics: MetricsRegistry) -> None:
        """Export the shard's storage metrics (`panda_storage_*`) in `metrics`."""
        self.probe.register(metrics, self._cache_statistics)

    def _cache_statistics(self) -> Mapping[str, int] | None:
        return self._shared.cache.statistics() if self._shared is not None else None

    @property
    def shared(self) -> Shared:
        if self._shared is None:
            raise LogClosedError("log manager is not started")
        return self._shared

    @property
    def logs(self) -> dict[str, PartitionLog]:
        return dict(self._logs)

    def get(self, name: str) -> PartitionLog | None:
        return self._logs.get(name)

    async def open_log(self, name: str, topic: TopicConfig | None = None) -> PartitionLog:
        """Open (creating if needed) the log in <data_dir>/<name>, e.g. name 'orders-3'."""
        existing = self._logs.get(name)
        if existing is not None:
            return existing
        if name in self._opening:  # a concurrent open of the same log: share its result
            return await asyncio.shield(self._opening[name])
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad partition log name {name!r}")
        directory = os.path.join(self.config.data_dir, name)
        opening = asyncio.get_running_loop().create_future()
        self._opening[name] = opening
        try:
            partition = await PartitionLog.open(
                name, directory, topic or self.config.default_topic, self.shared
            )
        except BaseException as error:
            opening.set_exception(error)
            opening.exception()  # retrieved: concurrent openers re-raise it
            raise
        finally:
            del self._opening[name]
        self._logs[name] = partition
        opening.set_result(partition)
        return partition

    async def open_all(self) -> list[PartitionLog]:
        """Open every partition directory found under data_dir."""
        names = sorted(
            n
            for n in os.listdir(self.config.data_dir)
            if os.path.isdir(os.path.join(self.config.data_dir, n)) and not n.startswith(".")
        )
        return [await self.open_log(name) for name in names]

    def set_topic_config(self, name: str, topic: TopicConfig) -> None:
        self._logs[name].topic = topic

    async def remove_log(self, name: str) -> None:
        """Close the log and delete its directory."""
        partition = self._logs.pop(name, None)
        if partition is not None:
            await partition.close()
        directory = os.path.join(self.config.data_dir, name)
        await self.shared.io_thread.run(shutil.rmtree, directory, True)

    async def housekeep_once(self, now_ms: int | None = None) -> None:
        """One retention + compaction pass over every log."""
        from panda.storage.compactor import compact_log

        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        for partition in list(self._logs.values()):
            try:
                await partition.apply_retention(now_ms)
                if partition.topic.compacted:
                    assert self._housekeeping_io is not None
                    await compact_log(partition, self._housekeeping_io, now_ms)
            except StorageError as error:
                log.bind(partition=partition.name).error("housekeeping failed: %r", error)

    async def _housekeep(self) -> None:
        interval_s = self.config.housekeeping_interval_ms / 1000
        while True:  # ends by cancellation in stop()
            await asyncio.sleep(interval_s)
            await self.housekeep_once()

    async def stop(self) -> None:
        """Close every log (flushing and sealing) and stop the threads."""
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            try:
                await self._housekeeper
            except asyncio.CancelledError:
                pass
            self._housekeeper = None
        for partition in list(self._logs.values()):
            await partition.close()
        self._logs.clear()
        if self._shared is not None:
            await self._shared.flusher.close()
            self._shared.io_thread.shutdown()
            self._shared = None
        if self._housekeeping_io is not None:
            self._housekeeping_io.shutdown()
            self._housekeeping_io = None

    def statistics(self) -> dict[str, object]:
        stats = self.probe.statistics()
        if self._shared is not None:
            stats["batch_cache"] = self._shared.cache.statistics()
        stats["logs"] = len(self._logs)
        return stats
