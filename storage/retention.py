"""Which closed segments retention.ms and retention.bytes remove from a partition log.

Owns the deletion rule only: a prefix of closed segments, oldest first, never the active one;
time is judged by a segment's largest timestamp. Pure: decides, never touches files.
"""

from __future__ import annotations

from panda.storage.config import TopicConfig
from panda.storage.segment import Segment


def retention_victims(segments: list[Segment], topic: TopicConfig, now_ms: int) -> list[Segment]:
    """Closed segments (a prefix) that retention.ms or retention.bytes removes."""
    closed = segments[:-1]
    doomed: list[Segment] = []
    total = sum(s.size_bytes for s in segments)
    for segment in closed:
        too_old = (
            topic.retention_ms >= 0 and segment.index.max_timestamp < now_ms - topic.retention_ms
        )
        too_big = topic.retention_bytes >= 0 and total > topic.retention_bytes
        if not (too_old or too_big):
            break
        doomed.append(segment)
        total -= segment.size_bytes
    return doomed
