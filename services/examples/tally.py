"""Tally: counters fed as `name n` lines over TCP, each name kept on the shard that owns it.

TallyStore owns the counts. TallyListener accepts lines on every shard (SO_REUSEPORT), adds
them up per owner shard, and a periodic task hands each owner its share in one call.
Built step by step in docs/writing-a-service.md; a test keeps the two identical.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Annotated

import msgspec

from panda import runtime
from panda.runtime import ALL, Service


class TallyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The `tally:` section of the node config."""

    addr: Annotated[str, msgspec.Meta(
        description="host:port every shard accepts `name n` lines on",
    )] = "127.0.0.1:9900"
    flush_interval_ms: Annotated[int, msgspec.Meta(
        ge=1, le=60_000, description="how often each shard sends its counts to their owners",
    )] = 100
    line_bytes_max: Annotated[int, msgspec.Meta(
        ge=16, description="longest line accepted; a longer one closes the connection",
    )] = 256


def owner_of(name: str, smp: int) -> int:
    """The shard that owns counter `name` (the same in every process, every run)."""
    return zlib.crc32(name.encode()) % smp


class TallyStore(Service):
    """The counts; each shard holds the names it owns, nothing is shared or locked."""

    name = "tally_store"
    shards = ALL
    smp_group = "tally"     # calls to it have their own in-flight cap per destination shard

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add_local(self, counts: dict[str, int]) -> None:
        for name, n in counts.items():
            self.counts[name] = self.counts.get(name, 0) + n

    async def add(self, counts: dict[str, int]) -> None:
        """Add counts of names this shard owns (a listener's flush calls it)."""
        self.add_local(counts)

    async def get(self, name: str) -> int:
        """Any shard answers: the call hops to the owner over the rings."""
        owner = owner_of(name, self.smp)
        if owner != self.shard:
            return await runtime.service(TallyStore).on(owner).get(name)
        return self.counts.get(name, 0)


class TallyListener(Service):
    """Lines in over TCP on every shard; counts out to their owners, in batches."""

    name = "tally"
    shards = ALL
    depends = (TallyStore,)     # starts after the store on every shard, stops before it
    smp_group = "tally"
    config_type = TallyConfig   # the runtime reads the `tally:` section and its flags...
    config: TallyConfig         # ...and sets it here before start()

    async def start(self) -> None:
        self.store: TallyStore = runtime.service(TallyStore).local()   # this shard's, no hop
        self.pending: dict[int, dict[str, int]] = {}     # owner shard -> name -> count
        self.clients: set[asyncio.StreamWriter] = set()
        self.lines = 0
        runtime.current().metrics.counter(
            "panda_tally_lines_total", "Lines accepted by this shard", lambda: self.lines)
        host, _, port = self.config.addr.rpartition(":")
        self.server = await asyncio.start_server(
            self.serve, host, int(port), reuse_port=True, limit=self.config.line_bytes_max)
        self.flusher = asyncio.create_task(self.flush_every(self.config.flush_interval_ms))

    async def stop(self) -> None:
        self.flusher.cancel()
        self.server.close()
        for writer in list(self.clients):
            writer.close()
        await self.flush()      # the stores stop after every listener: the last counts land

    async def flush_every(self, interval_ms: int) -> None:
        while True:
            await asyncio.sleep(interval_ms / 1000)
            await self.flush()

    async def flush(self) -> None:
        """One call per owner shard with everything counted for it since the last flush."""
        pending, self.pending = self.pending, {}
        for owner, counts in pending.items():
            if owner == self.shard:
                self.store.add_local(counts)        # a plain call on the local instance
            else:
                await runtime.service(TallyStore).on(owner).add(counts)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """`name n` per line, `ok` back; a malformed or too long line closes the connection."""
        self.clients.add(writer)
        try:
            while line := await reader.readline():
                name, _, n = line.decode().strip().partition(" ")
                self.count(name, int(n or 1))
                writer.write(b"ok\n")
                await writer.drain()
        except (ValueError, ConnectionError):
            pass
        finally:
            self.clients.discard(writer)
            writer.close()

    def count(self, name: str, n: int) -> None:
        owner = owner_of(name, self.smp)
        counts = self.pending.setdefault(owner, {})
        counts[name] = counts.get(name, 0) + n
        self.lines += 1
