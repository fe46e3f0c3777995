"""The shard's storage I/O thread: every write, sync, truncate and unlink runs here, in order.

Owns the single worker thread and the FileIO it drives. Invariant: operations run one at a time
in submission order, so a truncate queued after a write always lands after it. Never runs
anything on the reactor thread; never takes a lock the reactor holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from panda.storage.file_io import FileIO

T = TypeVar("T")
log = logging.getLogger("panda.storage")


class IOThread:
    """One worker thread plus the FileIO it uses; submit() keeps FIFO order."""

    def __init__(self, io: FileIO, name: str = "storage-io") -> None:
        self.io = io
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._last: asyncio.Future[Any] | None = None

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue fn(*args) on the thread; await the result."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        self._last = future
        return future

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue fn(*args); errors are logged (callers that care use run())."""
        future = self.run(fn, *args)
        future.add_done_callback(_log_failure)

    async def barrier(self) -> None:
        """Wait until everything queued so far has run."""
        await self.run(_nothing)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)
        self.io.release()


def _nothing() -> None:
    return None


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("storage I/O operation failed: %r", future.exception())
