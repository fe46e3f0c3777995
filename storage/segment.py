"""One segment of a partition log: a data file named by base offset and term, plus its index.

Owns the segment's bytes: the written file prefix, the writes in flight (queued in order on
the I/O thread, each from its own buffer) and the appended-but-unwritten tail (pending), so
reads see every appended batch at once. The reactor mutates the in-memory state; the file is
only changed by SegmentWrite / thread ops run on the shard's single storage I/O thread, in
submission order. Never blocks the reactor on a write.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from panda.storage import record_batch as rb
from panda.storage.errors import CorruptBatchError, CrcMismatchError
from panda.storage.file_io import ALIGN_BYTES, FileIO, align_down, align_up
from panda.storage.index import SegmentIndex
from panda.storage.write_buffer import WriteBuffer, WriteBufferPool

log = logging.getLogger("panda.storage")

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
CHECKPOINT_SUFFIX = ".checkpoint"  # index of an active segment's synced prefix


def segment_name(base_offset: int, term: int) -> str:
    return f"{base_offset:020d}-{term}"


def parse_segment_name(filename: str) -> tuple[int, int] | None:
    """(base_offset, term) of '<base>-<term>.log', else None."""
    if not filename.endswith(LOG_SUFFIX):
        return None
    stem = filename[: -len(LOG_SUFFIX)]
    base, _, term = stem.partition("-")
    if not (base.isdigit() and term.isdigit()):
        return None
    return int(base), int(term)


class Segment:
    """A segment file plus its in-memory index, write tail and file descriptors."""

    def __init__(
        self,
        directory: str,
        index: SegmentIndex,
        term: int,
        *,
        direct: bool,
        pool: WriteBufferPool | None = None,
    ) -> None:
        self.directory = directory
        self.term = term
        self.index = index
        self.direct = direct
        stem = os.path.join(directory, segment_name(index.base_offset, term))
        self.path = stem + LOG_SUFFIX
        self.index_path = stem + INDEX_SUFFIX
        self.checkpoint_path = stem + CHECKPOINT_SUFFIX
        self.synced_offset = index.next_offset  # offset at `written` (a batch boundary)
        self.checkpointed_bytes = 0  # `written` when the last checkpoint was taken
        self.created_ms = int(time.time() * 1000)
        self.sealed = False  # sealed: closed, fully written, index on disk
        self.sealing = False  # a seal_file is queued on the I/O thread
        self.write_fd: int | None = None
        self.read_fd: int | None = None
        self.written = index.size_bytes  # file bytes reported written
        self.closed = False  # no more appends (rolled): buffers go once written
        self._pool = pool or WriteBufferPool(0, 256 * 1024)
        self.pending = self._pool.take()
        self.pending.reset(index.size_bytes)
        self.inflight: list[SegmentWrite] = []  # handed to the I/O thread, oldest first
        self._spare: WriteBuffer | None = None
        # Owned by the I/O thread only:
        self.allocated = 0
        self.file_end = index.size_bytes  # end of the bytes written to the file
        self.tail_block = b""  # bytes of the partial last block written (for O_DIRECT)

    @property
    def base_offset(self) -> int:
        return self.index.base_offset

    @property
    def next_offset(self) -> int:
        return self.index.next_offset

    @property
    def size_bytes(self) -> int:
        return self.index.size_bytes

    @property
    def pending_start(self) -> int:
        return self.pending.start

    @property
    def unwritten_bytes(self) -> int:
        return self.size_bytes - self.written

    def open_files(self, io: FileIO, writable: bool) -> None:
        if writable:
            self.write_fd = io.open_write(self.path, self.direct)
        self.read_fd = io.open_read(self.path)
        if writable:
            self.allocated = os.fstat(self.read_fd).st_size

    def load_tail_block(self) -> None:
        """Read the partial last block from the file (I/O thread or open)."""
        self.file_end = self.written
        start = align_down(self.written)
        assert self.read_fd is not None
        self.tail_block = os.pread(self.read_fd, self.written - start, start)

    # --- reactor side -------------------------------------------------------------------

    def append(self, batch: rb.Buffer, header: rb.RecordBatchHeader, term: int) -> memoryview:
        """Copy a client batch into the pending tail, check its CRC there (one pass over the
        bytes instead of a copy for the CRC plus one for the buffer), rewrite base offset and
        leader epoch, index it. Returns a view of the stored bytes (valid until the next
        append). On a bad CRC nothing is kept and CrcMismatchError is raised."""
        position = self.size_bytes
        self.pending.append(batch)
        stored = self.pending.view(position, position + len(batch))
        computed = rb.compute_crc(stored, 0, len(batch))
        if computed != header.crc:
            stored.release()
            self.pending.cut(position)
            raise CrcMismatchError(header.crc, computed)
        rb.set_base_offset(stored, 0, header.base_offset)
        rb.set_partition_leader_epoch(stored, 0, term)
        self.index.add(
            header.base_offset, header.next_offset, position, len(batch), header.max_timestamp
        )
        return stored

    def take_write(self) -> SegmentWrite | None:
        """Move the pending tail in flight; the caller runs the returned job on the I/O thread
        (after any write already in flight: they land in order)."""
        if self.pending.size_bytes == 0:
            return None
        job = SegmentWrite(self, self.pending, self.next_offset)
        self.inflight.append(job)
        if self.closed:  # no more appends: an empty tail that holds no memory
            self.pending = WriteBuffer(ALIGN_BYTES)
        else:
            self.pending = self._spare or self._pool.take()
            self._spare = None
        self.pending.reset(job.end)
        return job

    def write_done(self, job: SegmentWrite) -> None:
        """job landed: its bytes (up to any truncation point inside it) are in the file."""
        if job.start == self.written and job.readable_end > job.start:  # else cut meanwhile
            self.written, self.synced_offset = job.readable_end, job.end_offset

    def take_checkpoint(self, every_bytes: int) -> SegmentIndex | None:
        """Every `every_bytes` synced, the index of the synced prefix, to persist."""
        if self.sealed or self.closed or self.written - self.checkpointed_bytes < every_bytes:
            return None
        self.checkpointed_bytes = self.written
        return self.index.copy_prefix(self.written, self.synced_offset)

    def close_for_appends(self) -> None:
        """Rolled: no more appends; the spare buffer, and the tail's if it is empty, go to the
        pool for the next segment (a closed segment would otherwise keep it for its lifetime)."""
        self.closed = True
        self._pool.give(self._spare)
        self._spare = None
        if self.pending.size_bytes == 0:
            self._pool.give(self.pending)
            start = self.pending.start
            self.pending = WriteBuffer(ALIGN_BYTES)
            self.pending.reset(start)

    def release_write(self, job: SegmentWrite) -> None:
        """job is over (landed or failed): its buffer serves the next appends."""
        self.inflight.remove(job)
        if self.closed:  # no more appends: the buffers serve new segments
            self._pool.give(job.buffer)
            self._pool.give(self._spare)
            self._spare = None
        elif self._spare is None:
            self._spare = job.buffer  # reused: its pages are already faulted in
        else:
            self._pool.give(job.buffer)

    def truncate(self, position: int, next_offset: int) -> None:
        """Drop every byte at or past `position` in memory; the caller queues truncate_file."""
        self.index.truncate(position, next_offset)
        if position >= self.pending.start:
            self.pending.cut(position)
            return
        self.pending.reset(position)
        for job in self.inflight:
            job.cut(position, next_offset)
        if position < self.written:
            self.written, self.synced_offset = position, next_offset
        self.checkpointed_bytes = min(self.checkpointed_bytes, position)

    def read_span(self, start: int, end: int) -> tuple[bytes, bool]:
        """Bytes [start, end) of the segment from file and memory; True if any came from file."""
        end = min(end, self.size_bytes)
        parts = []
        from_file = start < self.written
        if from_file:
            assert self.read_fd is not None
            parts.append(os.pread(self.read_fd, min(end, self.written) - start, start))
        for region_start, data in self._memory_regions():
            lo = max(start, self.written, region_start)  # below `written` the file has it
            hi = min(end, region_start + len(data))
            if lo < hi:
                parts.append(bytes(data[lo - region_start : hi - region_start]))
        return b"".join(parts), from_file

    def _memory_regions(self) -> list[tuple[int, memoryview]]:
        regions = []
        for job in self.inflight:
            if job.readable_end > job.start:
                regions.append((job.start, job.buffer.view(job.start, job.readable_end)))
        if self.pending.size_bytes:
            regions.append(
                (self.pending.start, self.pending.view(self.pending.start, self.pending.end))
            )
        return regions

    def read(
        self, offset: int, max_bytes: int, upto: int, read_bytes_max: int, at_least_one: bool = True
    ) -> ReadSpan:
        """Whole batches holding offsets >= offset and < upto, about max_bytes of them (at
        least one). CRC-checked when they came from the file."""
        position = self.index.position_for(offset)
        want = min(max_bytes + 2 * self.index.interval_bytes, read_bytes_max)
        span = ReadSpan(position, at_least_one=at_least_one)
        while position < self.size_bytes and not span.full:
            data, from_file = self.read_span(position, position + max(want, rb.BATCH_HEADER_BYTES))
            consumed = span.take(data, offset, upto, max_bytes, from_file, self.path)
            if consumed == 0 and not span.full:  # a batch larger than the window: read it whole
                size = _header_at(data, 0, position, self.path).size_bytes
                if size <= want or position + size > self.size_bytes:
                    raise CorruptBatchError(f"{self.path} at position {position}: bad length")
                want = size
            position += consumed
        return span

    def locate(self, offset: int) -> tuple[int, int]:
        """(position, base offset) of the batch holding offset, else of the first one after it;
        (size_bytes, next_offset) when no batch holds an offset >= offset."""
        position = self.index.position_for(offset)
        for _ in range(self.size_bytes // rb.BATCH_LENGTH_MIN + 1):
            if position >= self.size_bytes:
                break
            data, _ = self.read_span(position, position + rb.BATCH_HEADER_BYTES)
            header = _header_at(data, 0, position, self.path)
            if header.next_offset > offset:
                return position, header.base_offset
            position += header.size_bytes
        return self.size_bytes, self.next_offset


@dataclass
class ReadSpan:
    """Batches collected by Segment.read, as zero-copy views into the bytes read."""

    position: int
    batches: list[memoryview] | None = None
    size_bytes: int = 0
    next_offset: int = -1
    full: bool = False
    from_file: bool = False  # some batch was read from the file (and CRC-checked)
    at_least_one: bool = True

    def __post_init__(self) -> None:
        self.batches = []

    def take(
        self, data: bytes, offset: int, upto: int, max_bytes: int, checked: bool, path: str
    ) -> int:
        """Collect batches from data; return bytes consumed (whole batches only)."""
        assert self.batches is not None
        view = memoryview(data)
        consumed = 0
        while len(data) - consumed >= rb.BATCH_HEADER_BYTES:
            header = _header_at(data, consumed, self.position + consumed, path)
            size = header.size_bytes
            if len(data) - consumed < size:
                break
            if header.base_offset >= upto or (
                (self.batches or not self.at_least_one) and self.size_bytes + size > max_bytes
            ):
                self.full = True
                break
            if header.next_offset > offset:
                if checked:
                    self.from_file = True
                    _check_crc(data, consumed, self.position + consumed, path)
                self.batches.append(view[consumed : consumed + size])
                self.size_bytes += size
                self.next_offset = header.next_offset
            consumed += size
        self.position += consumed
        return consumed


def _header_at(data: bytes, at: int, position: int, path: str) -> rb.RecordBatchHeader:
    try:
        return rb.read_header(data, at)
    except CorruptBatchError as error:
        log.error("corrupt batch header in %s at position %d: %s", path, position, error)
        raise CorruptBatchError(f"{path} at position {position}: {error}") from error


def _check_crc(data: bytes, at: int, position: int, path: str) -> None:
    try:
        rb.validate_crc(data, at)
    except CrcMismatchError as error:
        log.error("corrupt batch in %s at position %d: %s", path, position, error)
        raise CrcMismatchError(error.stored, error.computed) from error


class SegmentWrite:
    """One write of a segment's pending bytes; run() executes on the I/O thread."""

    def __init__(self, segment: Segment, buffer: WriteBuffer, end_offset: int) -> None:
        self.segment = segment
        self.buffer = buffer
        self.end_offset = end_offset  # the segment's next offset at readable_end
        self.start = buffer.start
        self.end = buffer.end
        self.readable_end = buffer.end  # a truncation inside the write lowers it (reactor)
        self.size_bytes = buffer.size_bytes

    def cut(self, position: int, next_offset: int) -> None:
        """Reactor: the log was truncated at position (offset next_offset there)."""
        if position < self.readable_end:
            self.readable_end = max(position, self.start)
            self.end_offset = next_offset

    def run(self, io: FileIO, fallocate_bytes: int, dsync: bool) -> None:
        segment, buffer = self.segment, self.buffer
        fd = segment.write_fd
        assert fd is not None and self.start == segment.file_end, (self.start, segment.file_end)
        need = align_up(self.end)
        if fallocate_bytes and need > segment.allocated:
            grow = max(fallocate_bytes, need - segment.allocated)
            io.fallocate(fd, segment.allocated, grow)
            segment.allocated += grow
        assert buffer.mem is not None and len(segment.tail_block) == buffer.head
        if segment.direct:
            buffer.mem[: buffer.head] = segment.tail_block
            padded = align_up(buffer.used)
            buffer.mem[buffer.used : padded] = bytes(padded - buffer.used)
            io.pwrite(fd, memoryview(buffer.mem)[:padded], buffer.file_position, dsync)
        else:
            io.pwrite(fd, buffer.view(self.start, self.end), self.start, dsync)
        last_block = align_down(buffer.used)
        segment.tail_block = (
            bytes(buffer.mem[last_block : buffer.used]) if self.end % ALIGN_BYTES else b""
        )
        segment.file_end = self.end


def truncate_file(segment: Segment, io: FileIO, position: int) -> None:
    """I/O thread: cut the file at position and refresh the write tail."""
    assert segment.write_fd is not None
    io.unlink(segment.checkpoint_path)  # may describe the bytes being cut
    io.fsync_dir(segment.directory)
    position = min(position, segment.file_end)  # the rest was never written
    io.ftruncate(segment.write_fd, position)
    io.fsync(segment.write_fd)
    segment.allocated = segment.file_end = position
    start = align_down(position)
    assert segment.read_fd is not None
    segment.tail_block = os.pread(segment.read_fd, position - start, start)


def seal_file(segment: Segment, io: FileIO) -> None:
    """I/O thread: make a closed segment durable, trim preallocation and write its index."""
    fd = segment.write_fd
    assert fd is not None
    io.fdatasync(fd)
    io.ftruncate(fd, segment.size_bytes)
    io.fsync(fd)
    io.write_file_atomic(segment.index_path, segment.index.encode())
    io.unlink(segment.checkpoint_path)
    io.close(fd)
    segment.write_fd = None


def write_checkpoint(segment: Segment, index: SegmentIndex, io: FileIO) -> None:
    """I/O thread: persist the index of the active segment's synced prefix, so recovery
    CRC-scans only the bytes after it. Not synced: a lost or torn checkpoint (CRC) only makes
    recovery scan more; truncate_file removes it durably before cutting."""
    io.write_file_replace(segment.checkpoint_path, index.encode())


def close_files(segment: Segment, io: FileIO) -> None:
    """I/O thread: close both descriptors."""
    for fd in (segment.write_fd, segment.read_fd):
        if fd is not None:
            io.close(fd)
    segment.write_fd = segment.read_fd = None


def remove_files(segment: Segment, io: FileIO) -> None:
    """I/O thread: close and delete the segment's files."""
    close_files(segment, io)
    io.unlink(segment.path)
    io.unlink(segment.index_path)
    io.unlink(segment.checkpoint_path)
