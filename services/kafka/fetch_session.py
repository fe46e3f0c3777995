"""Incremental fetch sessions (KIP-227) of one shard: the partitions a client fetches, kept
between requests so each request names only what changed and each response only what moved.

Owns the session cache (bounded, least recently used evicted). A session lives on the shard
whose connection created it; a client that reconnects elsewhere gets FETCH_SESSION_ID_NOT_FOUND
and starts a new one, as the protocol allows.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field
from uuid import UUID

SESSIONS_MAX = 1000             # per shard
SESSION_PARTITIONS_MAX = 10_000
FINAL_EPOCH = -1
INITIAL_EPOCH = 0


@dataclass
class SessionPartition:
    topic: str              # name
    topic_id: UUID
    partition: int
    fetch_offset: int
    max_bytes: int
    # what the client last saw, to tell whether a response must mention the partition
    high_watermark: int = -2
    log_start_offset: int = -2


@dataclass
class FetchSession:
    session_id: int
    epoch: int = 1          # the epoch the next request must carry
    partitions: dict[tuple[str, int], SessionPartition] = field(default_factory=dict)


class FetchSessionCache:
    """Sessions of this shard; ids are unique per shard (and carry the shard in low bits)."""

    def __init__(self, shard: int, smp: int):
        self._ids = itertools.count(1)
        self._shard, self._smp = shard, smp
        self._sessions: collections.OrderedDict[int, FetchSession] = collections.OrderedDict()

    def create(self) -> FetchSession:
        session_id = (next(self._ids) * self._smp + self._shard) & 0x7FFFFFFF or 1
        session = FetchSession(session_id)
        self._sessions[session_id] = session
        while len(self._sessions) > SESSIONS_MAX:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: int) -> FetchSession | None:
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions.move_to_end(session_id)
        return session

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)


def update(session: FetchSession, wanted: list[SessionPartition],
           forgotten: list[tuple[str, int]]) -> None:
    """Apply an incremental request: add or update `wanted`, drop `forgotten`."""
    for key in forgotten:
        session.partitions.pop(key, None)
    for entry in wanted:
        known = session.partitions.get((entry.topic, entry.partition))
        if known is None:
            if len(session.partitions) < SESSION_PARTITIONS_MAX:
                session.partitions[(entry.topic, entry.partition)] = entry
        else:
            known.fetch_offset, known.max_bytes = entry.fetch_offset, entry.max_bytes


def rotate(session: FetchSession, served: list[SessionPartition]) -> None:
    """Move partitions that just returned data behind the others, so a partition with a
    backlog early in the order cannot starve the ones after it (Kafka rotates likewise)."""
    for entry in served:
        key = (entry.topic, entry.partition)
        if key in session.partitions:
            session.partitions[key] = session.partitions.pop(key)
