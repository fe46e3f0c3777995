"""Key-based compaction of a partition's closed segments (cleanup.policy=compact).

Owns the rewrite: keep the latest record of every key among the closed segments, drop
tombstones older than delete.retention.ms, never reorder and never change an offset (kept
records keep theirs; emptied batches vanish, leaving gaps). Invariant: the active segment is
never read or rewritten, and a segment is swapped only if it is still in the log, unchanged.
Runs on the housekeeping thread within the shard's I/O budget; never blocks the reactor.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from panda.runtime.logs import logger
from panda.storage import record_batch as rb
from panda.storage.errors import StorageError
from panda.storage.file_io import FileIO
from panda.storage.index import SegmentIndex
from panda.storage.io_thread import IOThread
from panda.storage.segment import Segment

if TYPE_CHECKING:
    from panda.storage.partition_log import PartitionLog

log = logger("panda.storage")

COMPACTED_SUFFIX = ".compacted"


@dataclass
class Rewrite:
    """Outcome of compacting one segment file into path + COMPACTED_SUFFIX."""

    index: SegmentIndex | None  # None: nothing to remove, the file was left alone
    records_removed: int
    tombstones_kept: int
    io_bytes: int


async def compact_log(partition: PartitionLog, thread: IOThread, now_ms: int) -> int:
    """Compact the closed segments of partition; returns how many records were removed."""
    closed = [s for s in partition.segments[:-1] if s.sealed]
    signature = tuple((s.base_offset, s.size_bytes) for s in closed)
    if not closed or signature == partition.compaction_signature:
        return 0
    keys_max = partition.shared.config.compaction_keys_max
    latest = await thread.run(build_key_map, [s.path for s in closed], keys_max)
    if latest is None:
        log.bind(partition=partition.name).warning("more than %d keys; compaction skipped",
                                                 keys_max)
        return 0
    horizon_ms = now_ms - partition.topic.delete_retention_ms
    removed = tombstones = 0
    for segment in closed:
        rewrite = await _compact_segment(partition, thread, segment, latest, horizon_ms)
        removed += rewrite.records_removed
        tombstones += rewrite.tombstones_kept
        await asyncio.sleep(rewrite.io_bytes / partition.shared.config.housekeeping_bytes_per_s)
    if tombstones == 0:
        closed_now = [s for s in partition.segments[:-1] if s.sealed]
        partition.compaction_signature = tuple((s.base_offset, s.size_bytes) for s in closed_now)
    return removed


async def _compact_segment(
    partition: PartitionLog,
    thread: IOThread,
    segment: Segment,
    latest: dict[bytes, int],
    horizon_ms: int,
) -> Rewrite:
    interval = partition.shared.config.index_interval_bytes
    try:
        rewrite = await thread.run(
            rewrite_segment,
            segment.path,
            segment.base_offset,
            segment.next_offset,
            latest,
            horizon_ms,
            interval,
        )
    except (OSError, StorageError) as error:
        log.bind(partition=partition.name).error("compaction of %s failed: %r",
                                               segment.path, error)
        return Rewrite(None, 0, 0, 0)
    if rewrite.index is not None:
        installed = await partition.install_compacted(segment, rewrite.index)
        if installed:
            partition.shared.probe.segment_compacted(rewrite.records_removed)
        else:
            rewrite.records_removed = 0
    return rewrite


def swap_compacted(old: Segment, new: Segment, io: FileIO) -> None:
    """I/O thread: the compacted file replaces old's, then its index does. A crash between
    leaves the old index, stale (larger than the file), so recovery rebuilds it."""
    io.rename(old.path + COMPACTED_SUFFIX, new.path)
    io.write_file_atomic(new.index_path, new.index.encode())
    new.open_files(io, writable=False)


def build_key_map(paths: list[str], keys_max: int) -> dict[bytes, int] | None:
    """Housekeeping thread: key -> offset of its latest record across the files (None: too
    many keys)."""
    latest: dict[bytes, int] = {}
    for path in paths:
        for _, header, records, _ in _batches(path):
            if header.is_control:
                continue
            for record in records:
                if record.key is not None:
                    latest[record.key] = record.offset
            if len(latest) > keys_max:
                return None
    return latest


def _batches(path: str):
    """Yield (position, header, records) of every batch of a sealed segment file."""
    with open(path, "rb") as file:
        data = file.read()
    for position, header in rb.iter_batches(data, check_crc=True, strict=True):
        records = [] if header.is_control else rb.decode_records(data, position, check_crc=False)
        yield position, header, records, data


def rewrite_segment(
    path: str,
    base_offset: int,
    next_offset: int,
    latest: dict[bytes, int],
    horizon_ms: int,
    interval_bytes: int,
) -> Rewrite:
    """Housekeeping thread: write the compacted copy of path to path + COMPACTED_SUFFIX."""
    out = bytearray()
    index = SegmentIndex(base_offset, interval_bytes)
    removed = tombstones = 0
    size_in = 0
    for position, header, records, data in _batches(path):
        size_in = position + header.size_bytes
        keep = [r for r in records if _keeps(r, latest, horizon_ms)]
        tombstones += sum(1 for r in keep if r.value is None and r.key is not None)
        removed += len(records) - len(keep)
        if header.is_control or len(keep) == len(records):
            batch = data[position : position + header.size_bytes]
        elif keep:
            batch = _rebuild(header, keep)
        else:
            continue
        kept = rb.read_header(batch)
        index.add(kept.base_offset, kept.next_offset, len(out), len(batch), kept.max_timestamp)
        out += batch
    if removed == 0:
        return Rewrite(None, 0, tombstones, size_in)
    index.next_offset = max(index.next_offset, next_offset)
    _write_synced(path + COMPACTED_SUFFIX, out)
    return Rewrite(index, removed, tombstones, size_in + len(out))


def _keeps(record: rb.Record, latest: dict[bytes, int], horizon_ms: int) -> bool:
    if record.key is None:
        return True
    if latest.get(record.key, record.offset) != record.offset:
        return False  # a later record has this key
    return record.value is not None or record.timestamp >= horizon_ms


def _rebuild(header: rb.RecordBatchHeader, records: list[rb.Record]) -> bytes:
    return rb.build_batch(
        records,
        base_offset=header.base_offset,
        compression=header.compression,
        timestamp_type=header.timestamp_type,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        is_transactional=header.is_transactional,
        partition_leader_epoch=header.partition_leader_epoch,
        max_timestamp=header.max_timestamp,
    )


def _write_synced(path: str, data: bytearray) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        done = 0
        while done < len(view):
            done += os.write(fd, view[done:])
        os.fsync(fd)
    finally:
        os.close(fd)

