"""The stall detector reports every block over 1.5x the threshold (the next heartbeat late by
more than the threshold), wherever it starts between two heartbeats, while its watchdog wakes
far less often than a look every heartbeat interval would.

In process, on a real uvloop loop: the loop is blocked with time.sleep (what a programmer bug
does), and the watchdog's wakes are counted by wrapping its Event.
"""

from __future__ import annotations

import asyncio
import random
import time

import uvloop

from panda.runtime.metrics import Log2Histogram
from panda.runtime.stall_detector import StallDetector

THRESHOLD_MS = 40
STALLS = 6


class _CountingEvent:
    """Stands in for the watchdog's stop Event: counts its timed waits (its wakes)."""

    def __init__(self, event) -> None:
        self._event = event
        self.waits = 0

    def wait(self, timeout: float) -> bool:
        self.waits += 1
        return self._event.wait(timeout)

    def set(self) -> None:
        self._event.set()


def test_every_block_over_one_and_a_half_thresholds_is_reported_and_looks_are_rare():
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)

    async def main() -> tuple[int, int, float]:
        detector = StallDetector(THRESHOLD_MS, Log2Histogram())
        stop = detector._stop = _CountingEvent(detector._stop)  # type: ignore[assignment]
        detector.start()
        started = time.monotonic()
        for _ in range(STALLS):
            await asyncio.sleep(rng.uniform(0.05, 0.1))       # lands anywhere between beats
            time.sleep(THRESHOLD_MS * 1.5 / 1000 + 0.01)  # noqa: ASYNC251 - the point: a block
        await asyncio.sleep(0.05)
        detector.stop()
        return detector.stalls, stop.waits, time.monotonic() - started

    stalls, looks, elapsed_s = uvloop.run(main())
    assert stalls == STALLS, f"{stalls} of {STALLS} stalls reported (seed={seed})"
    fixed_interval_looks = elapsed_s / (THRESHOLD_MS / 2000)
    assert looks < 0.75 * fixed_interval_looks, (looks, fixed_interval_looks)
