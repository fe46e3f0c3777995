"""Callers waiting for their appends to be durable: one future per wait, oldest offset first.

Owns the futures of `PartitionLog.wait_durable`. Invariant: a waiter is resolved only once
every offset below its own is durable, and failed (never dropped) when the log cuts or closes
past it. Never schedules a flush itself: the log does, on what resolve() returns.
"""

from __future__ import annotations

import asyncio
from collections import deque

from panda.storage.errors import StorageError

Waiter = tuple[int, "asyncio.Future[None]", int]  # (offset, future, started perf_counter_ns)


class DurableWaiters(deque[Waiter]):
    """(offset, future, started_ns) in append order. A deque, so that the hot path's
    `waiters.append(...)` stays the C call it was (no Python frame per durable append)."""

    __slots__ = ()

    def resolve(self, durable_offset: int) -> bool:
        """Complete every waiter whose offset is durable; True when some still wait."""
        for _ in range(len(self)):
            offset, future, _started = self[0]
            if offset > durable_offset:
                break
            self.popleft()
            if not future.done():
                future.set_result(None)
        return bool(self)

    def fail(self, error: StorageError, above: int = -1) -> None:
        """Fail every waiter for an offset > above with error; keep the others in order."""
        for _ in range(len(self)):
            waiter = self.popleft()
            future = waiter[1]
            if future.done():
                continue
            if waiter[0] > above:
                future.set_exception(error)
            else:
                self.append(waiter)
