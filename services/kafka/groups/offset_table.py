"""The committed offsets of one group: (topic, partition) -> CommittedOffset.

Owns lookups and installs only; whether a commit is allowed is the group's call
(offset_rules.py), and an offset is installed here only after it is durable
(group_manager.py).
"""

from __future__ import annotations

from .calls import OffsetEntry, TopicPartition
from .consumer_offsets_records import CommittedOffset


class OffsetTable(dict[tuple[str, int], CommittedOffset]):
    def apply(self, entry: OffsetEntry) -> CommittedOffset:
        """Install a committed offset; returns what was stored."""
        committed = CommittedOffset(offset=entry.offset, leader_epoch=entry.leader_epoch,
                                    metadata=entry.metadata,
                                    commit_timestamp_ms=entry.commit_timestamp_ms)
        self[(entry.topic, entry.partition)] = committed
        return committed

    def fetch(self, partitions: list[TopicPartition] | None) -> list[OffsetEntry]:
        """Committed offsets of the partitions asked for (-1: none), or all of them."""
        keys = sorted(self) if partitions is None else [(tp.topic, tp.partition)
                                                        for tp in partitions]
        return [_entry(topic, partition, self.get((topic, partition)))
                for topic, partition in keys]


def _entry(topic: str, partition: int, committed: CommittedOffset | None) -> OffsetEntry:
    if committed is None:
        return OffsetEntry(topic, partition, -1)
    return OffsetEntry(topic, partition, committed.offset, committed.leader_epoch,
                       committed.metadata, committed.commit_timestamp_ms)
