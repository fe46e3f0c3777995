"""Per-shard memory: the budget each shard gets and admission by bytes in flight.

`shard_memory.reserve(n)` waits (FIFO) until n bytes fit in the shard's budget, so producers
slow down instead of the node running out of memory. The budget is a promise we keep, not a
cap the OS enforces: RSS is reported beside it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

import psutil

from .errors import MemoryBudgetError

RESERVE_BYTES_MIN = 512 * 1024 * 1024
RESERVE_FRACTION = 0.07
SHARD_BUDGET_BYTES_MIN = 16 * 1024 * 1024


def plan_budgets(smp: int, memory_bytes: int | None, reserve_bytes: int | None) -> int:
    """Bytes each shard may use: (memory - reserve) / smp.

    memory (--memory) is the whole node's, capped at the machine's RAM and RAM by default;
    the reserve (--reserve-memory) is the part of it left to the OS: by default
    max(512M, 7% of RAM) when memory is the RAM, none when --memory names it.
    """
    total_ram = psutil.virtual_memory().total
    memory = total_ram if memory_bytes is None else min(memory_bytes, total_ram)
    if reserve_bytes is not None:
        reserve = reserve_bytes
    elif memory_bytes is None:
        reserve = max(RESERVE_BYTES_MIN, int(total_ram * RESERVE_FRACTION))
    else:
        reserve = 0
    usable = memory - reserve
    if usable < smp * SHARD_BUDGET_BYTES_MIN:
        raise MemoryBudgetError(
            f"{memory} bytes of memory minus a reserve of {reserve} leaves under 16 MiB for "
            f"each of {smp} shards (RAM {total_ram}) - at $.memory_bytes")
    return usable // smp


class MemoryBudget:
    """A byte semaphore over one shard's budget, with FIFO waiters."""

    def __init__(self, budget_bytes: int):
        self.budget_bytes = budget_bytes
        self.reserved_bytes = 0
        self.waits = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future]] = collections.deque()

    @contextlib.asynccontextmanager
    async def reserve(self, nbytes: int) -> AsyncIterator[None]:
        """Hold nbytes of the budget for the duration of the block."""
        await self.acquire(nbytes)
        try:
            yield
        finally:
            self.release(nbytes)

    async def acquire(self, nbytes: int) -> None:
        _check_size(nbytes)
        if nbytes > self.budget_bytes:
            raise MemoryBudgetError(
                f"cannot reserve {nbytes} bytes: the shard budget is {self.budget_bytes}")
        if not self._waiters and self.reserved_bytes + nbytes <= self.budget_bytes:
            self.reserved_bytes += nbytes
            return
        self.waits += 1
        future = asyncio.get_running_loop().create_future()
        entry = (nbytes, future)
        self._waiters.append(entry)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(nbytes)   # granted just as we were cancelled
            else:
                if entry in self._waiters:   # _grant may have dropped it already
                    self._waiters.remove(entry)
                self._grant()
            raise

    def try_acquire(self, nbytes: int) -> bool:
        _check_size(nbytes)
        if not self._waiters and self.reserved_bytes + nbytes <= self.budget_bytes:
            self.reserved_bytes += nbytes
            return True
        return False

    def release(self, nbytes: int) -> None:
        self.reserved_bytes -= nbytes
        assert self.reserved_bytes >= 0, "memory budget released more than reserved"
        self._grant()

    def _grant(self) -> None:
        while self._waiters:
            nbytes, future = self._waiters[0]
            if future.done():                  # cancelled; its task has not run yet
                self._waiters.popleft()
                continue
            if self.reserved_bytes + nbytes > self.budget_bytes:
                return
            self._waiters.popleft()
            self.reserved_bytes += nbytes
            future.set_result(None)

    def statistics(self) -> dict[str, int]:
        return {"budget_bytes": self.budget_bytes, "reserved_bytes": self.reserved_bytes,
                "waiters": len(self._waiters), "waits": self.waits}


def _check_size(nbytes: int) -> None:
    """A negative reservation would silently grow the budget: refuse it."""
    if nbytes < 0:
        raise ValueError(f"cannot reserve a negative number of bytes ({nbytes})")
