"""panda.runtime: shard-per-core processes, SPSC shared-memory rings and sharded services.

    from panda.runtime import Service, ALL, ONE, service, this_shard, smp, shard_memory
"""

from __future__ import annotations

from typing import TypeVar

from .errors import (
    ArgumentEncodeError,
    ConfigError,
    CrossShardError,
    CrossShardTimeout,
    InternalError,
    MemoryBudgetError,
    MessageTooLargeError,
    RemoteError,
    RuntimeLayerError,
    ShardStoppedError,
    UnknownMethodError,
    UnknownServiceError,
)
from .memory import MemoryBudget
from .service import ALL, ONE, Placement, Service
from .service_ref import ServiceRef
from .shard import RuntimeControl, ShardRuntime, current

S = TypeVar("S", bound=Service)


def service(cls: type[Service]) -> ServiceRef:
    """A handle to call `cls` on any shard: .on(shard), .on_all(), .tell(shard), .map_reduce."""
    return current().service(cls)


def this_shard() -> int:
    """The id of the shard this code runs on."""
    return current().shard


def smp() -> int:
    """How many shards the node runs."""
    return current().smp


class _ShardMemory:
    """`async with shard_memory.reserve(n):` holds n bytes of this shard's budget."""

    def reserve(self, nbytes: int):
        return current().memory.reserve(nbytes)

    @property
    def budget(self) -> MemoryBudget:
        return current().memory


shard_memory = _ShardMemory()

__all__ = [
    "ALL",
    "ONE",
    "ArgumentEncodeError",
    "ConfigError",
    "CrossShardError",
    "CrossShardTimeout",
    "InternalError",
    "MemoryBudget",
    "MemoryBudgetError",
    "MessageTooLargeError",
    "Placement",
    "RemoteError",
    "RuntimeControl",
    "RuntimeLayerError",
    "Service",
    "ServiceRef",
    "ShardRuntime",
    "ShardStoppedError",
    "UnknownMethodError",
    "UnknownServiceError",
    "current",
    "service",
    "shard_memory",
    "smp",
    "this_shard",
]
