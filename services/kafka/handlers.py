"""The table of Kafka API handlers and the context each request is handled in.

A handler is `async def fn(ctx, header, body) -> response body | None` registered with
`@handler(api_key, min_version, max_version)`; None means no response (Produce acks=0).
The versions registered here are the versions ApiVersions advertises.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from panda.net.kafka import SUPPORTED_VERSIONS

Handler = Callable[["RequestContext", Any, Any], Awaitable[Any]]

HANDLERS: dict[int, Handler] = {}
VERSIONS: dict[int, tuple[int, int]] = {}


def handler(api_key: int, min_version: int | None = None, max_version: int | None = None):
    """Register the decorated coroutine as the handler of api_key for the given versions."""
    codec_min, codec_max = SUPPORTED_VERSIONS[api_key]

    def register(fn: Handler) -> Handler:
        assert api_key not in HANDLERS, f"two handlers for api {api_key}"
        HANDLERS[api_key] = fn
        VERSIONS[api_key] = (max(codec_min, min_version or codec_min),
                             min(codec_max, codec_max if max_version is None else max_version))
        return fn

    return register


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
    config: Any                 # the node config's kafka section (KafkaConfig)
    peer: str = ""
    timings: Timings = field(default_factory=Timings)
