"""What a Kafka API handler is handed: the request's context, and the shape of a handler.

A handler is `async def fn(ctx, header, body) -> response body | None`; None means no
response at all (Produce with acks=0). Which handler serves which api key and versions is
registry.py's table, nowhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import KafkaConfig

Handler = Callable[["RequestContext", Any, Any], Awaitable[Any]]


@dataclass
class Timings:
    """Where a request's time went, for the slow-request log (µs)."""

    decode_us: int = 0
    hops: dict[str, int] = field(default_factory=dict)


@dataclass
class RequestContext:
    shard: int
    smp: int
    node_id: int
    advertised_host: str
    advertised_port: int
    data_dir: str
    client_id: str | None
    config: KafkaConfig         # the node config's kafka section
    peer: str = ""
    timings: Timings = field(default_factory=Timings)
