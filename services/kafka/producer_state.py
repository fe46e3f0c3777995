"""What a partition remembers of its idempotent producers: the last few batches of each, so a
retried batch is answered with its first append's offset instead of being appended twice.

Owns a bounded table per partition (IDEMPOTENT_BATCHES_KEPT per producer, as Kafka keeps for
retries in flight; PRODUCERS_TRACKED_MAX producers, the oldest forgotten first). In memory
only, for now: a restart forgets it (the exactly-once issue makes it part of the log).
"""

from __future__ import annotations

import collections

IDEMPOTENT_BATCHES_KEPT = 5          # per producer, as Kafka keeps for retries in flight
PRODUCERS_TRACKED_MAX = 10_000       # per partition; the oldest is forgotten first


class ProducerState:
    def __init__(self) -> None:
        self._producers: dict[int, collections.deque] = {}     # id -> recent batches

    def duplicate_of(self, header) -> int | None:
        """Base offset of an earlier append of this idempotent batch (a producer retry)."""
        if header.producer_id < 0 or header.base_sequence < 0:
            return None
        for epoch, sequence, offset in self._producers.get(header.producer_id, ()):
            if epoch == header.producer_epoch and sequence == header.base_sequence:
                return offset
        return None

    def remember(self, header, offset: int) -> None:
        if header.producer_id < 0 or header.base_sequence < 0:
            return
        recent = self._producers.setdefault(
            header.producer_id, collections.deque(maxlen=IDEMPOTENT_BATCHES_KEPT))
        recent.append((header.producer_epoch, header.base_sequence, offset))
        if len(self._producers) > PRODUCERS_TRACKED_MAX:
            self._producers.pop(next(iter(self._producers)))
