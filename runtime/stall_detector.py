"""Reactor stall detector: a watchdog thread that reports a loop callback held too long.

The loop stamps a heartbeat every `threshold/2`; the watchdog logs the loop thread's current
stack once per stall when the next stamp is late by more than the threshold (so every block
over 1.5x the threshold is reported), and the next heartbeat logs how long the stall really
lasted. Heartbeat lateness also feeds the loop-lag histogram. The watchdog only reads; it
never touches the loop. It sleeps until the first moment the last stamp it saw could be a
stall (stamp + interval + threshold) instead of looking every interval: each wake takes the
GIL from a busy loop, a 20-30 µs hiccup on a pinned shard (measured), and this way it wakes
~30 times a second instead of 80 (default threshold) and never looks too late.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback

from .metrics import Log2Histogram

log = logging.getLogger("panda.runtime.stall")
_LOOK_AFTER_S = 0.001       # look just after a stall would pass the threshold, not just before


class StallDetector:
    """Start on the loop thread; stop before the loop closes."""

    def __init__(self, threshold_ms: int, lag: Log2Histogram):
        self.threshold_s = threshold_ms / 1000.0
        self.stalls = 0
        self._lag = lag
        self._interval_s = max(self.threshold_s / 2, 0.001)
        self._beat = time.monotonic()
        self._expected = self._beat + self._interval_s
        self._loop_thread_id = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall-detector", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._heartbeat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()

    def _heartbeat(self) -> None:
        now = time.monotonic()
        lateness_us = max(0.0, (now - self._expected) * 1e6)
        self._lag.observe(lateness_us)
        if lateness_us > self.threshold_s * 1e6:
            log.warning("reactor stall ended: the loop was held %.0f ms (threshold %.0f ms)",
                        lateness_us / 1000, self.threshold_s * 1000)
        self._beat = now
        self._expected = now + self._interval_s
        assert self._loop is not None
        self._handle = self._loop.call_later(self._interval_s, self._heartbeat)

    def _watch(self) -> None:
        reported_beat = 0.0
        wait_s = self._interval_s + self.threshold_s
        while not self._stop.wait(wait_s):
            beat = self._beat
            now = time.monotonic()
            held = now - beat - self._interval_s
            if held > self.threshold_s and beat != reported_beat:
                reported_beat = beat
                self.stalls += 1
                self._report(held)
            wait_s = self._next_look_s(beat, now, reported_beat)

    def _next_look_s(self, beat: float, now: float, reported_beat: float) -> float:
        """Seconds until a stall after `beat` would be over the threshold (a reported stall:
        one interval, so a long one is not looked at in a spin)."""
        if beat == reported_beat:
            return self._interval_s
        first_stall_look = beat + self._interval_s + self.threshold_s + _LOOK_AFTER_S
        return max(first_stall_look - now, _LOOK_AFTER_S)

    def _report(self, held_s: float) -> None:
        frame = sys._current_frames().get(self._loop_thread_id)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else "(no frame)"
        log.warning("reactor stalled for %.0f ms (threshold %.0f ms); blocking stack:\n%s",
                    held_s * 1000, self.threshold_s * 1000, stack.rstrip())
