"""One partition log's share of a flush cycle: segment writes, syncs, seals and a directory sync.

Owns the thread-side half of a flush for one log. Invariants: a segment is sealed (index
written) only after its data is synced; a log's flushes run in order, and once one fails the
ones queued behind it write nothing (SkippedFlushError) until the log has dealt with the
failure. Runs on the storage I/O thread; never touches the log's reactor-side state except the
segment fields that thread owns.
"""

from __future__ import annotations

import errno

from panda.storage.file_io import FileIO
from panda.storage.segment import Segment, SegmentWrite, seal_file

_NO_FLOOR = 1 << 62


class SkippedFlushError(OSError):
    """A flush queued behind a failed one of the same log: nothing of it was written. The
    earlier failure already failed or truncated the log; this one must not be acknowledged."""

    def __init__(self) -> None:
        super().__init__(errno.EIO, "skipped: an earlier flush of this log failed")


class LogFlush:
    """Thread-side flush of one log: write(), then sync()."""

    def __init__(
        self,
        writes: list[SegmentWrite],
        seals: list[Segment],
        directory: str | None,
        target_offset: int,
        fallocate_bytes: int,
        previous: LogFlush | None = None,
    ) -> None:
        self.writes = writes
        self.seals = seals
        self.directory = directory  # fsync it (a segment file was created)
        self.target_offset = target_offset  # the log's end offset when the cycle began
        self.floor_offset = _NO_FLOOR  # lowered by a truncation while in flight (reactor)
        self.previous = previous  # the log's flush queued just before this one, if in flight
        self.failed = False  # set by the I/O thread when write or sync fails
        self.fallocate_bytes = fallocate_bytes
        self.size_bytes = sum(w.size_bytes for w in writes)
        self.syncs = 0
        self.written: list[SegmentWrite] = []
        self.dsync = False

    @property
    def durable_offset(self) -> int:
        """Every offset below this is durable once this flush succeeded."""
        return min(self.target_offset, self.floor_offset)

    def write(self, io: FileIO) -> BaseException | None:
        """Write every segment's tail; a lone segment's write is also its sync (RWF_DSYNC)."""
        previous, self.previous = self.previous, None  # no chain of old flushes kept alive
        if previous is not None and previous.failed:
            self.failed = True
            return SkippedFlushError()
        self.dsync = len(self.writes) == 1 and not self.seals
        try:
            for job in self.writes:
                job.run(io, self.fallocate_bytes, self.dsync)
                self.written.append(job)
                self.syncs += int(self.dsync)
        except OSError as error:
            self.failed = True
            return error
        return None

    def sync(self, io: FileIO) -> BaseException | None:
        if self.failed:
            return None  # write() returned the error
        try:
            for job in self.writes:
                if job.segment not in self.seals and not self.dsync:
                    assert job.segment.write_fd is not None
                    io.fdatasync(job.segment.write_fd)
                    self.syncs += 1
            for segment in self.seals:
                seal_file(segment, io)
                self.syncs += 1
            if self.directory is not None:
                io.fsync_dir(self.directory)
                self.syncs += 1
        except OSError as error:
            self.failed = True
            return error
        return None
