"""This shard's partition of `__consumer_offsets`: where group metadata and committed offsets
become durable, and whence they come back on start.

Owns one LogManager under `<data_dir>/groups/shard-<n>` holding one compacted PartitionLog.
Invariant: `append` returns only once the records are fsynced; replay yields every record in
log order. Never interprets records beyond their key (group_manager.py folds them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from panda.storage.config import StorageConfig, TopicConfig
from panda.storage.log_manager import LogManager
from panda.storage.partition_log import PartitionLog
from panda.storage.record_batch import Record, build_batch, decode_records

from . import consumer_offsets_records as records
from .consumer_offsets_records import CommittedOffset, GroupValue, RecordKey

TOPIC = "__consumer_offsets"
REPLAY_READ_BYTES_MAX = 1 << 20  # one read while replaying
REPLAY_READS_MAX = 1 << 20  # bounds the replay loop (a 1 TiB log at REPLAY_READ_BYTES_MAX)
SEGMENT_BYTES = 16 << 20  # small segments: compaction works on closed ones
FALLOCATE_BYTES = 1 << 20

Entry = tuple[RecordKey, CommittedOffset | GroupValue | None]


def log_dir(data_dir: str, shard: int) -> str:
    return os.path.join(data_dir, "groups", f"shard-{shard}")


class GroupStore:
    """`store = await GroupStore.open(data_dir, shard)`; `await store.append(entries)`."""

    def __init__(self, manager: LogManager, log: PartitionLog) -> None:
        self._manager = manager
        self.log = log

    @classmethod
    async def open(cls, data_dir: str, shard: int, direct_io: bool = True,
                   segment_bytes: int = SEGMENT_BYTES) -> GroupStore:
        topic = TopicConfig(cleanup_policy="compact", segment_bytes=segment_bytes)
        config = StorageConfig(data_dir=log_dir(data_dir, shard), default_topic=topic,
                               direct_io=direct_io, fallocate_bytes=FALLOCATE_BYTES)
        manager = await LogManager(config).start()
        try:
            log = await manager.open_log(f"{TOPIC}-{shard}")
        except BaseException:
            await manager.stop()
            raise
        return cls(manager, log)

    async def append(self, entries: list[Entry]) -> None:
        """Write the entries as one batch and wait until it is durable."""
        if not entries:
            return
        now_ms = int(time.time() * 1000)
        batch = [Record(offset=i, timestamp=now_ms, key=key, value=value)
                 for i, (key, value) in enumerate(records.encode(k, v) for k, v in entries)]
        await self.log.append(build_batch(batch), durable=True)

    def replay(self) -> Iterator[Entry]:
        """Every record from the start of the log, decoded, in log order."""
        offset = self.log.start_offset
        for _ in range(REPLAY_READS_MAX):
            if offset >= self.log.next_offset:
                return
            result = self.log.read(offset, REPLAY_READ_BYTES_MAX)
            for batch in result.batches:
                for record in decode_records(batch):
                    if record.key is not None:
                        yield records.decode(record.key, record.value)
            if result.next_offset <= offset:
                return
            offset = result.next_offset
        raise AssertionError(f"{self.log.name}: replay did not reach the end of the log")

    async def compact(self, now_ms: int | None = None) -> None:
        """One retention/compaction pass now (the manager also runs them periodically)."""
        await self._manager.housekeep_once(now_ms)

    async def close(self) -> None:
        await self._manager.stop()
