"""Handles for calling a service from any shard: on(shard), on_all(), tell(shard), map_reduce.

A ServiceRef is cheap and cacheable; proxies turn attribute access into calls through the
dispatcher (local calls take no hop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .errors import UnknownServiceError
from .service import Service, method_info


class _ShardProxy:
    def __init__(self, ref: ServiceRef, shard: int, timeout: float | None):
        self._ref = ref
        self._shard = shard
        self._timeout = timeout

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        ref, timeout = self._ref, self._timeout
        route = ref.dispatcher.route(self._shard, ref.cls, method)
        call = ref.dispatcher.call_route

        def invoke(*args: Any, **kwargs: Any):
            return call(route, args, kwargs, timeout)

        self.__dict__[method] = invoke
        return invoke


class _TellProxy:
    def __init__(self, ref: ServiceRef, shard: int):
        self._ref = ref
        self._shard = shard

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        ref = self._ref
        route = ref.dispatcher.route(self._shard, ref.cls, method)
        tell = ref.dispatcher.tell_route

        async def invoke(*args: Any, **kwargs: Any) -> None:
            wait = tell(route, args, kwargs)
            if wait is not None:
                await wait

        self.__dict__[method] = invoke
        return invoke


class _AllProxy:
    def __init__(self, ref: ServiceRef, timeout: float | None):
        self._ref = ref
        self._timeout = timeout

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        ref, timeout = self._ref, self._timeout
        method_info(ref.cls, method)

        async def invoke(*args: Any, **kwargs: Any) -> list[Any]:
            calls = [ref.dispatcher.call(s, ref.cls, method, args, kwargs, timeout)
                     for s in ref.shards]
            return list(await asyncio.gather(*calls))

        return invoke


class ServiceRef:
    """Calls into one service's instances, wherever they live."""

    def __init__(self, dispatcher, cls: type[Service], smp: int):
        if not (isinstance(cls, type) and issubclass(cls, Service)):
            raise TypeError(f"{cls!r} is not a Service subclass")
        self.dispatcher = dispatcher
        self.cls = cls
        self.shards = cls.placement(smp)
        self._on: dict[int, _ShardProxy] = {}

    def on(self, shard: int, *, timeout: float | None = None) -> Any:
        """invoke_on: `await ref.on(1).method(args)`."""
        if shard not in self.shards:
            raise UnknownServiceError(
                f"service {self.cls.service_name()!r} does not run on shard {shard} "
                f"(it runs on {list(self.shards)})")
        if timeout is not None:
            return _ShardProxy(self, shard, timeout)
        proxy = self._on.get(shard)
        if proxy is None:
            proxy = self._on[shard] = _ShardProxy(self, shard, None)
        return proxy

    def on_all(self, *, timeout: float | None = None) -> Any:
        """invoke_on_all: results in shard order."""
        return _AllProxy(self, timeout)

    def tell(self, shard: int) -> Any:
        """Fire-and-forget: awaits only ring space, never a reply."""
        if shard not in self.shards:
            raise UnknownServiceError(
                f"service {self.cls.service_name()!r} does not run on shard {shard}")
        return _TellProxy(self, shard)

    async def map_reduce(self, method: str, reducer: Callable[[list[Any]], Any], *args: Any,
                         timeout: float | None = None, **kwargs: Any) -> Any:
        """Call `method` on every owning shard and reduce the list of results."""
        results = await getattr(self.on_all(timeout=timeout), method)(*args, **kwargs)
        return reducer(results)

    def local(self) -> Any:
        """The instance on this shard (UnknownServiceError if it does not run here)."""
        return self.dispatcher._instance(self.cls.service_name())
