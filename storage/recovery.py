"""Opening a partition directory after a clean stop or a crash.

Owns the rules for trusting bytes on disk: a segment with a valid index file was sealed after
its data was synced and is trusted; any other segment is scanned batch by batch with CRC32C
checks, and everything from the first bad batch on (torn tail) is truncated, together with any
later segment. Logs every byte it drops. Blocking: runs on the storage I/O thread at open.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from panda.storage import record_batch as rb
from panda.storage.errors import (
    CorruptBatchError,
    TruncatedBatchError,
    UnsupportedMessageFormatError,
)
from panda.storage.file_io import FileIO
from panda.storage.index import SegmentIndex
from panda.storage.probe import StorageProbe
from panda.storage.segment import (
    CHECKPOINT_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    Segment,
    close_files,
    parse_segment_name,
    seal_file,
)

log = logging.getLogger("panda.storage")

SCAN_WINDOW_BYTES = 8 * 1024 * 1024
ZERO_CHECK_BYTES = 1024 * 1024


@dataclass
class ScanResult:
    index: SegmentIndex
    file_bytes: int
    error: Exception | None = None
    garbage_bytes: int = 0  # non-zero bytes after the last whole batch (a torn tail)


@dataclass
class RecoveryReport:
    truncated_bytes: int = 0
    removed_segments: list[str] = field(default_factory=list)
    rebuilt_indexes: int = 0
    scanned_bytes: int = 0  # batch bytes CRC-scanned (not covered by an index or checkpoint)


def scan_segment(
    path: str,
    base_offset: int,
    interval_bytes: int,
    check_crc: bool,
    start: SegmentIndex | None = None,
) -> ScanResult:
    """Index every whole, in-order batch of a segment file from its start, or from the end of
    `start` (a checkpointed index of its synced prefix)."""
    index = start or SegmentIndex(base_offset, interval_bytes)
    with open(path, "rb", buffering=0) as file:
        fd = file.fileno()
        file_bytes = os.fstat(fd).st_size
        result = ScanResult(index, file_bytes)
        want = SCAN_WINDOW_BYTES
        for _ in range(2 * (file_bytes // rb.BATCH_LENGTH_MIN) + 2):
            position = index.size_bytes
            if position >= file_bytes:
                break
            buf = os.pread(fd, want, position)
            stop = _index_window(index, buf, position, check_crc)
            if stop is None:
                continue
            if isinstance(stop, TruncatedBatchError) and position + len(buf) < file_bytes:
                if index.size_bytes == position:  # one batch larger than the window
                    want = max(want, rb.read_header(buf).size_bytes)
                continue
            result.error = stop
            break
        result.garbage_bytes = _nonzero_bytes(fd, index.size_bytes, file_bytes)
    return result


def _index_window(index: SegmentIndex, buf: bytes, start: int, check_crc: bool) -> Exception | None:
    batches = rb.iter_batches(buf, check_crc=check_crc)
    for at, header in batches:
        if header.base_offset < index.next_offset:
            return CorruptBatchError(
                f"batch at position {start + at} has offset {header.base_offset}, "
                f"expected >= {index.next_offset}"
            )
        index.add(
            header.base_offset,
            header.next_offset,
            start + at,
            header.size_bytes,
            header.max_timestamp,
        )
    return batches.stop_error


def _nonzero_bytes(fd: int, start: int, end: int) -> int:
    """How many bytes after start are not preallocation zeros (checks ZERO_CHECK_BYTES)."""
    tail = os.pread(fd, min(end - start, ZERO_CHECK_BYTES), start)
    stripped = tail.rstrip(b"\0")
    return len(stripped) if stripped else 0


def recover_directory(
    directory: str, interval_bytes: int, direct: bool, io: FileIO, probe: StorageProbe
) -> tuple[list[Segment], RecoveryReport]:
    """Open every segment of a partition directory, repairing what a crash left behind."""
    report = RecoveryReport()
    _remove_temporaries(directory, io)
    names = _segment_files(directory)
    segments: list[Segment] = []
    previous_was_sealed = True
    for i, (base_offset, term, path) in enumerate(names):
        is_last = i == len(names) - 1
        had_index_file = os.path.exists(path[: -len(LOG_SUFFIX)] + INDEX_SUFFIX)
        segment, clean = _recover_segment(
            directory, base_offset, term, path, interval_bytes, direct, is_last, io, probe, report
        )
        problem = _boundary_problem(segments, segment, previous_was_sealed)
        if problem:
            clean = False
            _remove_segment_files(segment, io, report, problem)
        else:
            segments.append(segment)
        previous_was_sealed = had_index_file
        if not clean:
            for base, t, _ in names[i + 1 :]:
                later = Segment(directory, SegmentIndex(base, interval_bytes), t, direct=direct)
                _remove_segment_files(later, io, report, "follows a torn segment")
            break
    if segments:
        _make_writable(segments[-1], io)
    return segments, report


def _boundary_problem(segments: list[Segment], segment: Segment, previous_was_sealed: bool) -> str:
    """Why segment cannot follow the recovered ones ('' when it can)."""
    if not segments:
        return ""
    end = segments[-1].next_offset
    if segment.base_offset < end:
        return "overlaps the previous segment"
    if segment.base_offset > end and not previous_was_sealed:
        # The previous segment was never sealed and lost its tail: nothing after was synced.
        return f"follows a gap ({end}..{segment.base_offset - 1}) after an unsealed segment"
    return ""


def _make_writable(segment: Segment, io: FileIO) -> None:
    """The last segment becomes the active one: writable, without an index file."""
    if segment.sealed:
        _reopen_sealed_for_writes(segment, io)
    if segment.write_fd is None:
        segment.write_fd = io.open_write(segment.path, segment.direct)
        segment.allocated = os.fstat(segment.write_fd).st_size


def _segment_files(directory: str) -> list[tuple[int, int, str]]:
    found = []
    for name in os.listdir(directory):
        parsed = parse_segment_name(name)
        if parsed is not None:
            found.append((parsed[0], parsed[1], os.path.join(directory, name)))
    return sorted(found)


def _remove_temporaries(directory: str, io: FileIO) -> None:
    for name in os.listdir(directory):
        if name.endswith((".tmp", ".compacted")):
            log.info("removing leftover %s", os.path.join(directory, name))
            io.unlink(os.path.join(directory, name))


def _recover_segment(
    directory: str,
    base_offset: int,
    term: int,
    path: str,
    interval_bytes: int,
    direct: bool,
    is_last: bool,
    io: FileIO,
    probe: StorageProbe,
    report: RecoveryReport,
) -> tuple[Segment, bool]:
    """Open one segment; returns it and False when its tail was torn (later ones must go)."""
    index = _load_index(path, interval_bytes)
    if index is not None and index.base_offset == base_offset:
        segment = Segment(directory, index, term, direct=direct)
        segment.sealed = True
        segment.open_files(io, writable=is_last)
        if is_last:
            _reopen_sealed_for_writes(segment, io)
        return segment, True
    had_index_file = os.path.exists(path[: -len(LOG_SUFFIX)] + INDEX_SUFFIX)
    checkpoint = _load_checkpoint(path, base_offset, interval_bytes)
    scan = scan_segment(path, base_offset, interval_bytes, check_crc=True, start=checkpoint)
    report.scanned_bytes += scan.index.size_bytes - (checkpoint.size_bytes if checkpoint else 0)
    segment = Segment(directory, scan.index, term, direct=direct)
    segment.open_files(io, writable=True)
    torn = scan.garbage_bytes > 0
    if torn:
        _log_torn(path, scan, report, probe)
    if scan.file_bytes != scan.index.size_bytes:
        io.ftruncate(segment.write_fd, scan.index.size_bytes)  # type: ignore[arg-type]
        io.fsync(segment.write_fd)  # type: ignore[arg-type]
        segment.allocated = scan.index.size_bytes
    segment.load_tail_block()
    if not is_last and not torn:
        _seal_recovered(segment, io, had_index_file, report, probe)
    return segment, not torn


def _load_checkpoint(path: str, base_offset: int, interval_bytes: int) -> SegmentIndex | None:
    """The checkpointed index of an active segment's synced prefix, if present and sound."""
    try:
        with open(path[: -len(LOG_SUFFIX)] + CHECKPOINT_SUFFIX, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return None
    index = SegmentIndex.decode(data, interval_bytes)
    if index is None or index.base_offset != base_offset:
        return None
    if os.path.getsize(path) < index.size_bytes or not _entry_matches(path, index):
        log.warning("checkpoint of %s is stale: scanning the whole segment", path)
        return None
    index.reopen_for_appends()
    return index


def _entry_matches(path: str, index: SegmentIndex) -> bool:
    """The last indexed batch really sits where the index says (a stale index would not)."""
    if not index.offsets:
        return index.size_bytes == 0
    with open(path, "rb") as file:
        file.seek(index.positions[-1])
        data = file.read(rb.BATCH_HEADER_BYTES)
    try:
        header = rb.read_header(data)
    except (CorruptBatchError, UnsupportedMessageFormatError):
        return False
    return header.base_offset == index.offsets[-1]


def _load_index(path: str, interval_bytes: int) -> SegmentIndex | None:
    index_path = path[: -len(LOG_SUFFIX)] + INDEX_SUFFIX
    try:
        with open(index_path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return None
    index = SegmentIndex.decode(data, interval_bytes)
    if index is None or os.path.getsize(path) < index.size_bytes:
        log.warning("index %s is damaged or stale: rebuilding it", index_path)
        return None
    return index


def _reopen_sealed_for_writes(segment: Segment, io: FileIO) -> None:
    """The last segment was sealed at a clean stop: it becomes the active one again."""
    io.unlink(segment.index_path)
    segment.sealed = False
    segment.load_tail_block()


def _seal_recovered(
    segment: Segment,
    io: FileIO,
    had_index_file: bool,
    report: RecoveryReport,
    probe: StorageProbe,
) -> None:
    seal_file(segment, io)
    segment.sealed = True
    if had_index_file:
        report.rebuilt_indexes += 1
    probe.index_rebuilt()


def _log_torn(path: str, scan: ScanResult, report: RecoveryReport, probe: StorageProbe) -> None:
    dropped = scan.file_bytes - scan.index.size_bytes
    log.warning(
        "torn tail in %s: kept %d bytes (offsets %d..%d), truncated %d bytes: %s",
        path,
        scan.index.size_bytes,
        scan.index.base_offset,
        scan.index.next_offset - 1,
        dropped,
        scan.error,
    )
    report.truncated_bytes += dropped
    probe.torn_tail_truncated(dropped)


def _remove_segment_files(segment: Segment, io: FileIO, report: RecoveryReport, why: str) -> None:
    log.warning("removing segment %s: %s", segment.path, why)
    report.removed_segments.append(segment.path)
    if segment.read_fd is not None or segment.write_fd is not None:
        close_files(segment, io)
    io.unlink(segment.path)
    io.unlink(segment.index_path)
    io.unlink(segment.checkpoint_path)
