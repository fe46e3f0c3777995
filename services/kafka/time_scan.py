"""ListOffsets by timestamp, past the time index: the index finds the batch, this scan finds
the first record in it (or after it) at or after the asked time, as Kafka answers.

Owns the only place the broker decodes records on a read; bounded in bytes per step and in
steps (the index is sparse), never past the high watermark.
"""

from __future__ import annotations

from panda.storage import record_batch as rb
from panda.storage.partition_log import PartitionLog

TIME_SCAN_BYTES_MAX = 1 << 20       # bytes read per step past the index
TIME_SCAN_STEPS_MAX = 64            # ... and steps before giving up (the index is sparse)


def first_record_at(log: PartitionLog, offset: int, timestamp: int,
                    upto: int) -> tuple[int, int]:
    """(offset, timestamp) of the first record at or after `offset` whose timestamp is at
    least `timestamp`; (-1, -1) if none within the scan bounds."""
    for _ in range(TIME_SCAN_STEPS_MAX):
        result = log.read(offset, TIME_SCAN_BYTES_MAX, upto=upto)
        if not result.batches:
            break
        for batch in result.batches:
            header = rb.read_header(batch)
            if header.is_control or header.max_timestamp < timestamp:
                continue
            for record in rb.decode_records(batch):
                if record.offset >= offset and record.timestamp >= timestamp:
                    return record.offset, record.timestamp
        offset = result.next_offset
    return -1, -1
