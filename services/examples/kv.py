"""An example sharded service: a key-value store whose keys hash to shards.

Any shard accepts any call; a call for a key another shard owns hops there through the
runtime. Each shard owns only its own dict, so nothing is shared and nothing is locked.
Run it:  panda-runtime --smp 2 --service panda.services.examples.kv:KeyValueStore
Call it: panda call kv put greeting hello ; panda call kv get greeting
"""

from __future__ import annotations

import zlib

from panda import runtime
from panda.runtime import ALL, Service


def owner_of(key: str, smp: int) -> int:
    """The shard that owns `key` (stable across restarts and processes)."""
    return zlib.crc32(key.encode()) % smp


class KeyValueStore(Service):
    name = "kv"
    shards = ALL

    async def start(self) -> None:
        self._data: dict[str, str] = {}
        self._writes = 0
        metrics = runtime.current().metrics
        metrics.gauge("kv_keys", "Keys stored on this shard", lambda: len(self._data))
        metrics.counter("kv_writes_total", "Puts and deletes applied on this shard",
                        lambda: self._writes)

    async def put(self, key: str, value: str) -> int:
        """Store value under key; returns the shard that owns it."""
        owner = owner_of(key, self.smp)
        if owner != self.shard:
            return await runtime.service(KeyValueStore).on(owner).put(key, value)
        self._data[key] = value
        self._writes += 1
        return self.shard

    async def get(self, key: str) -> str | None:
        owner = owner_of(key, self.smp)
        if owner != self.shard:
            return await runtime.service(KeyValueStore).on(owner).get(key)
        return self._data.get(key)

    async def delete(self, key: str) -> bool:
        owner = owner_of(key, self.smp)
        if owner != self.shard:
            return await runtime.service(KeyValueStore).on(owner).delete(key)
        self._writes += 1
        return self._data.pop(key, None) is not None

    async def local_size(self) -> int:
        """Keys on this shard only."""
        return len(self._data)

    async def size(self) -> int:
        """Keys on every shard: a map_reduce over local_size."""
        return await runtime.service(KeyValueStore).map_reduce("local_size", sum)
