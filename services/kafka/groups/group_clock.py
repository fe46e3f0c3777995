"""Time as the group manager sees it: a monotonic clock (sessions, rebalances, syncs), a wall
clock (commit stamps, offset retention) and one-shot timers, in milliseconds.

`LoopClock` reads the OS clocks and schedules on the running event loop (production);
`ManualClock` moves only when told and runs the timers that come due, in deadline order
(tests and simulations: no test waits for real time to pass). Owns no group state.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Protocol

TIMERS_PER_ADVANCE_MAX = 1_000_000     # a timer that re-arms itself forever is a bug


class Timer(Protocol):
    def cancel(self) -> None: ...


class GroupClock(Protocol):
    def monotonic_ms(self) -> int: ...

    def wall_ms(self) -> int: ...

    def call_later(self, delay_ms: int, callback: Callable[..., object], *args: Any) -> Timer: ...


class LoopClock:
    """The OS clocks; timers are the running event loop's."""

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def call_later(self, delay_ms: int, callback: Callable[..., object],
                   *args: Any) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay_ms / 1000, callback, *args)


class ManualTimer:
    def __init__(self, deadline_ms: int, callback: Callable[..., object], args: tuple) -> None:
        self.deadline_ms = deadline_ms
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """`clock.advance(ms)`: time moves by ms and every timer due by then runs, earliest
    first, each seeing the clock at its own deadline. Wall time moves with monotonic time."""

    def __init__(self, monotonic_ms: int = 0, wall_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = monotonic_ms
        self._wall_offset_ms = wall_ms - monotonic_ms
        self._timers: list[tuple[int, int, ManualTimer]] = []
        self._order = itertools.count()

    def monotonic_ms(self) -> int:
        return self._now_ms

    def wall_ms(self) -> int:
        return self._now_ms + self._wall_offset_ms

    def call_later(self, delay_ms: int, callback: Callable[..., object],
                   *args: Any) -> ManualTimer:
        timer = ManualTimer(self._now_ms + max(delay_ms, 0), callback, args)
        heapq.heappush(self._timers, (timer.deadline_ms, next(self._order), timer))
        return timer

    def pending(self) -> int:
        """Timers scheduled and not cancelled."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    def advance(self, ms: int) -> None:
        target = self._now_ms + ms
        for _ in range(TIMERS_PER_ADVANCE_MAX):
            if not self._timers or self._timers[0][0] > target:
                self._now_ms = target
                return
            deadline, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._now_ms = max(self._now_ms, deadline)
                timer.callback(*timer.args)
        raise AssertionError(f"over {TIMERS_PER_ADVANCE_MAX} timers in one advance")
