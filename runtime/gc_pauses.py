"""Garbage-collector hygiene for a shard: freeze what start-up made, time every collection.

Owns the shard's gc settings and its GC pause histogram. Why: a full (generation 2) collection
walks every container object the process holds; after start-up that is tens of thousands of
long-lived objects (codecs, services, tables), and under load such a pass paused a broker
shard for 11-20 ms. Freezing them once the services have started moves them out of every
later collection. Never disables the collector: cycles made at run time are still freed.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from .metrics import Log2Histogram

log = logging.getLogger("panda.runtime.gc")


class GcPauses:
    """Times each collection into a log2 histogram (µs); installed once start-up is over,
    so the histogram shows run-time pauses only."""

    def __init__(self, histogram: Log2Histogram) -> None:
        self.histogram = histogram
        self._started_ns = 0

    def install(self) -> None:
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started_ns = time.perf_counter_ns()
            return
        self.histogram.observe((time.perf_counter_ns() - self._started_ns) // 1000)


def freeze_after_start() -> int:
    """Collect once, then move every surviving object to the permanent generation.
    Returns how many objects were frozen. The collection holds the loop once (10-30 ms here),
    so the log line says how long: a stall warning right after it is this hold."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("gc: %d objects frozen after start-up (the loop held %.0f ms)", frozen,
             (time.perf_counter() - started) * 1e3)
    return frozen
