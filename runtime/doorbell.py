"""A shard's doorbell: an eventfd plus a `sleeping` flag in its control block.

The receiver announces sleep (flag := 1, fence, re-check its rings) before blocking; a sender
publishes its tail, fences, and rings only when it reads the flag set. The fence is an
uncontended lock acquire/release, a locked instruction on x86: without it a load may pass the
earlier store on either side and a wake-up is lost (DESIGN.md, "Sleep and wake").
"""

from __future__ import annotations

import os
import threading

from .arena import SLEEPING_OFF

_SLEEPING = SLEEPING_OFF // 8
_fence_lock = threading.Lock()


def fence() -> None:
    """Full memory barrier between an earlier store and a later load."""
    _fence_lock.acquire()
    _fence_lock.release()


class Doorbell:
    """One per shard. The owner sleeps on it; every other shard may ring it."""

    __slots__ = ("_words", "fd", "rings")

    def __init__(self, fd: int, control: memoryview):
        self.fd = fd
        self._words = control.cast("Q")   # one aligned load/store per flag access
        self.rings = 0          # doorbell writes made by this process (sender side)

    # -- owner (receiver) side ------------------------------------------------------------
    def announce_sleep(self) -> None:
        self._words[_SLEEPING] = 1
        fence()

    def cancel_sleep(self) -> None:
        self._words[_SLEEPING] = 0

    def drain(self) -> None:
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass

    # -- sender side ----------------------------------------------------------------------
    def ring_if_sleeping(self) -> bool:
        """Call after publishing: wakes the owner if it announced sleep."""
        fence()
        if self._words[_SLEEPING]:
            self.rings += 1
            os.eventfd_write(self.fd, 1)
            return True
        return False

    def ring(self) -> None:
        os.eventfd_write(self.fd, 1)


def make_eventfd() -> int:
    """Non-blocking eventfd, inherited by forked shards."""
    return os.eventfd(0, os.EFD_NONBLOCK)
