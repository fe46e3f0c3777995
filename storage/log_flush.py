"""One partition log's share of a flush cycle: segment writes, syncs, seals and a directory sync.

Owns the thread-side half of a flush for one log. Invariant: a segment is sealed (index
written) only after its data is synced. Runs on the storage I/O thread; never touches the
log's reactor-side state except the segment fields that thread owns.
"""

from __future__ import annotations

from panda.storage.file_io import FileIO
from panda.storage.segment import Segment, SegmentWrite, seal_file


class LogFlush:
    """Thread-side flush of one log: write(), then sync()."""

    def __init__(
        self,
        writes: list[SegmentWrite],
        seals: list[Segment],
        directory: str | None,
        target_offset: int,
        fallocate_bytes: int,
    ) -> None:
        self.writes = writes
        self.seals = seals
        self.directory = directory  # fsync it (a segment file was created)
        self.target_offset = target_offset  # the log's end offset when the cycle began
        self.fallocate_bytes = fallocate_bytes
        self.size_bytes = sum(w.size_bytes for w in writes)
        self.syncs = 0
        self.written: list[SegmentWrite] = []
        self.dsync = False

    def write(self, io: FileIO) -> BaseException | None:
        """Write every segment's tail; a lone segment's write is also its sync (RWF_DSYNC)."""
        self.dsync = len(self.writes) == 1 and not self.seals
        try:
            for job in self.writes:
                job.run(io, self.fallocate_bytes, self.dsync)
                self.written.append(job)
                self.syncs += int(self.dsync)
        except OSError as error:
            return error
        return None

    def sync(self, io: FileIO) -> BaseException | None:
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
            return error
        return None
