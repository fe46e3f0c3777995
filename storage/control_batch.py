"""Control batches: the one-record transaction markers (commit or abort) of a producer.

Owns the control record's key and value layout (version, type; version, coordinator epoch).
Invariant: unknown control types are read back as they are, never refused. Never decides
what a marker means for the log: the transaction coordinator and readers do.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

import msgspec

from panda.storage.batch_header import NO_PARTITION_LEADER_EPOCH
from panda.storage.errors import CorruptBatchError
from panda.storage.record_codec import Record, build_batch

CONTROL_RECORD_VERSION: Final = 0
_CONTROL_KEY = struct.Struct(">hh")  # version, type
_CONTROL_VALUE = struct.Struct(">hi")  # version, coordinator_epoch


class ControlType(enum.IntEnum):
    """Type of a control record (the key's second int16)."""

    ABORT = 0
    COMMIT = 1


class ControlRecord(msgspec.Struct, frozen=True):
    """A transaction marker: commit or abort, from the coordinator of coordinator_epoch."""

    type: int
    coordinator_epoch: int
    version: int = CONTROL_RECORD_VERSION


def build_control_batch(
    control_type: int,
    *,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    timestamp: int,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
) -> bytes:
    """Build the one-record control batch that commits or aborts a producer's transaction."""
    key = _CONTROL_KEY.pack(CONTROL_RECORD_VERSION, control_type)
    value = _CONTROL_VALUE.pack(CONTROL_RECORD_VERSION, coordinator_epoch)
    return build_batch(
        [Record(base_offset, timestamp, key, value)],
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        is_transactional=True,
        is_control=True,
        partition_leader_epoch=partition_leader_epoch,
    )


def decode_control_record(record: Record) -> ControlRecord:
    """Read a control batch's record; unknown types are returned as read, not refused."""
    if record.key is None or len(record.key) < _CONTROL_KEY.size:
        raise CorruptBatchError("control record key shorter than 4 bytes")
    version, control_type = _CONTROL_KEY.unpack_from(record.key)
    if record.value is None or len(record.value) < _CONTROL_VALUE.size:
        raise CorruptBatchError("control record value shorter than 6 bytes")
    _, coordinator_epoch = _CONTROL_VALUE.unpack_from(record.value)
    return ControlRecord(control_type, coordinator_epoch, version)
