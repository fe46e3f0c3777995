"""The controller: shard 0 applies topic commands to the topic table, persists it, and
installs each new version on every shard; every shard keeps a replica to read locally.

It never touches partition logs: shards' subscribers (the partition manager) react to a new
table. Today its log is a file on one node; the cluster issue swaps in pysyncobj under
`submit` without changing callers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import msgspec

from panda import runtime
from panda.runtime import ALL, Service
from panda.runtime.logs import logger

from .errors import CommandError
from .probe import ControllerProbe
from .topic_table import Command, TopicTable, apply, fit_to_shards

log = logger("panda.services.controller")
TABLE_FILE = "topic_table.json"

Subscriber = Callable[[TopicTable], Awaitable[None]]


class CommandResult(msgspec.Struct, array_like=True):
    error: str = ""          # Kafka error name, "" on success
    message: str = ""


class Controller(Service):
    name = "controller"
    shards = ALL

    def __init__(self) -> None:
        self.table = TopicTable()
        self._subscribers: list[Subscriber] = []
        self._lock = asyncio.Lock()
        self.probe = ControllerProbe()

    async def start(self) -> None:
        self.probe.register(runtime.current().metrics, lambda: self.table, self.shard == 0)
        if self.shard != 0:
            return
        self._dir = os.path.join(runtime.current().config.data_dir, "controller")
        os.makedirs(self._dir, exist_ok=True)
        path = os.path.join(self._dir, TABLE_FILE)
        table = await asyncio.to_thread(_load, path)
        fitted = fit_to_shards(table, self.smp)
        if fitted is not table:
            log.info("moving the partitions of shards >= %d (the node has fewer shards now)",
                     self.smp)
            await asyncio.to_thread(_save, path, fitted)
            table = fitted
        await runtime.service(Controller).on_all().install(table)
        log.info("topic table v%d: %d topics", table.version, len(table.topics))

    # -- local, on every shard --------------------------------------------------------------
    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber(table)` on every new table version installed on this shard."""
        self._subscribers.append(subscriber)

    async def install(self, table: TopicTable) -> None:
        """A new table version from shard 0 (older versions are ignored)."""
        if table.version < self.table.version:
            return
        self.table = table
        self.probe.table_installed()
        for subscriber in self._subscribers:
            await subscriber(table)

    def topic(self, name: str):
        return self.table.topics.get(name)

    # -- shard 0 only --------------------------------------------------------------------
    async def submit(self, commands: list[Command]) -> list[CommandResult]:
        """Apply commands in order; persist and install once. One result per command."""
        assert self.shard == 0, "commands go to the controller on shard 0"
        async with self._lock:
            table, results = self.table, []
            for command in commands:
                try:
                    table = apply(table, command, self.smp)
                except CommandError as exc:
                    self.probe.command_rejected()
                    results.append(CommandResult(exc.code, str(exc)))
                    continue
                self.probe.command_applied()
                log.bind(topic=command.name).info("%s applied: topic table v%d",
                                                  type(command).__name__, table.version)
                results.append(CommandResult())
            if table is not self.table:
                await asyncio.to_thread(_save, os.path.join(self._dir, TABLE_FILE), table)
                await runtime.service(Controller).on_all().install(table)
            return results


def _load(path: str) -> TopicTable:
    try:
        with open(path, "rb") as f:
            return msgspec.json.decode(f.read(), type=TopicTable)
    except FileNotFoundError:
        return TopicTable()


def _save(path: str, table: TopicTable) -> None:
    """Write-then-rename with fsyncs: the table on disk is always a whole version."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(msgspec.json.encode(table))
        f.flush()
        os.fdatasync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
