"""Housekeeping of a partition log: retention deletes old segments, compaction swaps in copies.

Owns the `LogHousekeeping` role `PartitionLog` inherits: applying what `retention.py` decides,
and installing a segment `compactor.py` rewrote. Invariant: only closed, sealed segments are
deleted or swapped, and never the active one. Never decides what to delete or keep itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from panda.storage.compactor import COMPACTED_SUFFIX, swap_compacted
from panda.storage.config import TopicConfig
from panda.storage.errors import StorageError
from panda.storage.index import SegmentIndex
from panda.storage.retention import retention_victims
from panda.storage.segment import Segment, close_files

if TYPE_CHECKING:
    from panda.storage.partition_log import Shared


class LogHousekeeping:
    """Retention and compaction install of one partition log (a role of `PartitionLog`, which
    owns the state below and `prefix_truncate`); called by the LogManager's housekeeper."""

    log_id: int
    directory: str
    topic: TopicConfig
    segments: list[Segment]
    start_offset: int
    compaction_signature: tuple[tuple[int, int], ...]  # closed segments last compacted
    _closed: bool
    _failed: StorageError | None
    _shared: Shared

    async def prefix_truncate(self, offset: int) -> None:
        raise NotImplementedError  # PartitionLog's

    async def apply_retention(self, now_ms: int) -> int:
        """Delete closed segments past retention.ms / retention.bytes; returns how many."""
        if not self.topic.deletes or self._closed or self._failed:
            return 0
        doomed = retention_victims(self.segments, self.topic, now_ms)
        if doomed:
            await self.prefix_truncate(max(self.start_offset, doomed[-1].next_offset))
        return len(doomed)

    async def install_compacted(self, old: Segment, index: SegmentIndex) -> bool:
        """Compaction: swap sealed segment `old` for the compacted copy written next to it
        (same base offset, term and name). False when old left the log meanwhile."""
        io = self._shared.io_thread.io
        if old not in self.segments[:-1] or not old.sealed or self._closed:
            io.unlink(old.path + COMPACTED_SUFFIX)
            return False
        new = Segment(self.directory, index, old.term, direct=old.direct)
        new.sealed = True
        await self._shared.io_thread.run(swap_compacted, old, new, io)
        if old not in self.segments:
            self._shared.io_thread.submit(close_files, new, io)
            return False
        self.segments[self.segments.index(old)] = new
        self._shared.cache.invalidate_range(self.log_id, old.base_offset, old.next_offset)
        self._shared.io_thread.submit(close_files, old, io)
        return True
