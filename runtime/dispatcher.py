"""Cross-shard calls on one shard: encodes outgoing calls, runs incoming ones, matches replies.

Owns the table of calls in flight (caller side) and of calls running here (callee side).
Every incoming message is decoded before its ring space is released; nothing here blocks.
Exceptions cross as ErrorInfo and are rebuilt as their own type where possible.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import itertools
import logging
import sys
import traceback
from functools import partial
from typing import Any

import msgspec

from . import envelope
from .envelope import ONE_WAY, REPLY, REQUEST, Cancel, ErrorInfo, Failure, OneWay, Reply, Request
from .errors import (
    ArgumentEncodeError,
    CrossShardTimeout,
    MessageTooLargeError,
    RemoteError,
    ShardStoppedError,
    UnknownServiceError,
)
from .reactor import Reactor
from .service import Service, method_info

log = logging.getLogger("panda.runtime.dispatcher")
_encode = envelope.encoder.encode
_decode_inbound = envelope.inbound_decoder.decode
_decode_batch = envelope.batch_decoder.decode


class CallStats:
    __slots__ = ("calls_failed", "calls_received", "calls_sent", "calls_timed_out")

    def __init__(self) -> None:
        self.calls_sent = self.calls_received = self.calls_failed = self.calls_timed_out = 0


class Dispatcher:
    """Routes calls between this shard's services and every other shard's."""

    def __init__(self, reactor: Reactor, *, message_bytes_max: int, calls_in_flight_max: int):
        self.reactor = reactor
        self.shard = reactor.shard
        self.loop = reactor.loop
        self.stats = CallStats()
        self.local: dict[str, Service] = {}          # service name -> instance on this shard
        self._message_bytes_max = message_bytes_max
        self._calls_in_flight_max = calls_in_flight_max
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future, Any]] = {}
        self._running: dict[tuple[int, int], asyncio.Task] = {}
        self._slots: dict[tuple[str, int], _CallSlots] = {}
        self._routes: dict[tuple[type, str, int], Route] = {}
        self._targets: dict[str, dict[str, _Target]] = {}   # service -> method -> target
        self._stopped: BaseException | None = None
        reactor.deliver = self._deliver
        reactor.deliver_batch = self._deliver_batch

    # -- caller side ---------------------------------------------------------------------
    def route(self, dst: int, cls: type[Service], method: str) -> Route:
        """Everything a call to cls.method on dst needs, resolved once and cached."""
        key = (cls, method, dst)
        route = self._routes.get(key)
        if route is None:
            info = method_info(cls, method)
            slots = None
            if dst != self.shard:
                group_key = (cls.group(), dst)
                slots = self._slots.get(group_key)
                if slots is None:
                    slots = self._slots[group_key] = _CallSlots(self._calls_in_flight_max)
            route = self._routes[key] = Route(dst, cls.service_name(), info,
                                              self.reactor.outboxes.get(dst), slots)
        return route

    async def call(self, dst: int, cls: type[Service], method: str, args: tuple,
                   kwargs: dict, timeout: float | None) -> Any:
        return await self.call_route(self.route(dst, cls, method), args, kwargs, timeout)

    async def call_route(self, route: Route, args: tuple, kwargs: dict,
                         timeout: float | None) -> Any:
        """invoke_on: run the method on route.dst and return its decoded result."""
        info = route.info
        if kwargs:
            args = info.positional(args, kwargs)
        if route.outbox is None:
            return await self._call_local(route.name, info, args, timeout)
        if self._stopped is not None:
            raise ShardStoppedError(f"shard {self.shard} is stopping")
        call_id = next(self._ids)
        try:
            data = _encode((REQUEST, call_id, route.name, route.method, args))
        except _ENCODE_ERRORS as exc:
            raise _cannot_encode(route, exc) from None
        if len(data) > self._message_bytes_max:
            raise self._too_large(route, len(data))
        slots = route.slots
        if slots.in_use >= slots.limit:
            await slots.wait()
        slots.in_use += 1
        future = self.loop.create_future()
        self._pending[call_id] = (future, info.result_decoder)
        self.stats.calls_sent += 1
        try:
            wait = route.outbox.send(data, True)
            if wait is not None:
                await wait
            if timeout is None:
                return await future
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            if future.done() and not future.cancelled():
                raise       # the remote method's own TimeoutError, rebuilt
            self.stats.calls_timed_out += 1
            self._cancel_remote(route.dst, call_id)
            raise CrossShardTimeout(
                f"{route.name}.{info.name} on shard {route.dst}: no reply within {timeout} s"
            ) from None
        except asyncio.CancelledError:
            self._cancel_remote(route.dst, call_id)
            raise
        finally:
            self._pending.pop(call_id, None)
            slots.in_use -= 1
            if slots.waiters:
                slots.wake_one()

    def tell(self, dst: int, cls: type[Service], method: str, args: tuple, kwargs: dict):
        return self.tell_route(self.route(dst, cls, method), args, kwargs)

    def tell_route(self, route: Route, args: tuple, kwargs: dict):
        """One-way call: no reply, no result; returns a future only if the ring is full.
        (The hot path of one-way throughput: _encode inlined.)"""
        if kwargs:
            args = route.info.positional(args, kwargs)
        outbox = route.outbox
        if outbox is None:
            self._start_local_oneway(route.name, route.method, args)
            return None
        try:
            data = _encode((ONE_WAY, route.name, route.method, args))
        except _ENCODE_ERRORS as exc:
            raise _cannot_encode(route, exc) from None
        if len(data) > self._message_bytes_max:
            raise self._too_large(route, len(data))
        self.stats.calls_sent += 1
        return outbox.send(data, True)

    def _too_large(self, route: Route, nbytes: int) -> MessageTooLargeError:
        return MessageTooLargeError(
            f"{route.name}.{route.method}: message of {nbytes} bytes is over "
            f"message_bytes_max ({self._message_bytes_max})")

    def _cancel_remote(self, dst: int, call_id: int) -> None:
        if self._stopped is None:
            self.reactor.outboxes[dst].send(_encode(Cancel(call_id)), False)

    async def _call_local(self, name: str, info, args: tuple, timeout: float | None) -> Any:
        instance = self._instance(name)
        result = info.func(instance, *args)
        if info.is_coroutine:
            if timeout is None:
                return await result
            task = self.loop.create_task(result)
            try:
                return await asyncio.wait_for(task, timeout)
            except TimeoutError:
                if task.done() and not task.cancelled():
                    raise       # the method's own TimeoutError
                raise CrossShardTimeout(
                    f"{name}.{info.name}: no result within {timeout} s") from None
        return result

    # -- callee side ---------------------------------------------------------------------
    def _deliver(self, src: int, view: memoryview) -> None:
        """One message that travelled as its own record (whole or reassembled chunks)."""
        self._dispatch(src, _decode_inbound(view))

    def _deliver_batch(self, src: int, view: memoryview) -> int:
        """A coalesced record: every message decoded by one call, then run in send order.

        A message whose arguments do not fit its method fails alone (its caller gets the
        typed error); a record that is not a list of envelopes is a broken invariant."""
        messages: list[Any] = _decode_batch(view)
        on_oneway, on_request, on_reply = self._on_oneway, self._on_request, self._on_reply
        for message in messages:
            kind = type(message)
            if kind is OneWay:
                on_oneway(src, message)
            elif kind is Request:
                on_request(src, message)
            elif kind is Reply:
                on_reply(message)
            else:
                self._dispatch(src, message)
        return len(messages)

    def _dispatch(self, src: int, message) -> None:
        kind = type(message)
        if kind is Reply:
            self._on_reply(message)
        elif kind is Request:
            self._on_request(src, message)
        elif kind is Failure:
            self._on_failure(message)
        elif kind is OneWay:
            self._on_oneway(src, message)
        else:
            task = self._running.get((src, message.call_id))
            if task is not None:
                task.cancel()

    def _on_reply(self, message: Reply) -> None:
        entry = self._pending.get(message.call_id)
        if entry is None:
            return      # the caller gave up (timeout or cancel) before the reply came
        future, decoder = entry
        if not future.done():
            try:
                future.set_result(decoder.decode(message.value))
            except msgspec.DecodeError as exc:
                future.set_exception(ArgumentEncodeError(f"cannot decode the result: {exc}"))

    def _on_failure(self, message: Failure) -> None:
        entry = self._pending.get(message.call_id)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(rebuild_error(message.error))

    def _on_request(self, src: int, message: Request) -> None:
        self.stats.calls_received += 1
        try:
            target = self._target(message.service, message.method)
            result = target.func(*target.decode_args(message.args))
        except BaseException as exc:  # noqa: BLE001 - every failure travels back to the caller
            self._send_failure(src, message.call_id, exc)
            return
        if not target.is_coroutine:
            self._send_reply(src, message.call_id, result)
            return
        try:
            yielded = result.send(None)     # eager start: most calls finish without suspending
        except StopIteration as stop:
            self._send_reply(src, message.call_id, stop.value)
            return
        except BaseException as exc:  # noqa: BLE001 - every failure travels back to the caller
            self._send_failure(src, message.call_id, exc)
            return
        task = self.loop.create_task(_resumed(result, yielded))
        key = (src, message.call_id)
        self._running[key] = task
        task.add_done_callback(partial(self._on_task_done, src, message.call_id))

    def _on_task_done(self, src: int, call_id: int, task: asyncio.Task) -> None:
        self._running.pop((src, call_id), None)
        if task.cancelled():
            self._send_failure(src, call_id, asyncio.CancelledError("cancelled by the caller"))
            return
        exc = task.exception()
        if exc is not None:
            self._send_failure(src, call_id, exc)
        else:
            self._send_reply(src, call_id, task.result())

    def _on_oneway(self, src: int, message: OneWay) -> None:
        self.stats.calls_received += 1
        try:
            target = self._target(message.service, message.method)
            args = target.decode_args(message.args)
        except Exception:
            log.exception("one-way call %s.%s from shard %d failed", message.service,
                          message.method, src)
            return
        self._run_oneway(target, args)

    def _start_local_oneway(self, name: str, method: str, args: tuple) -> None:
        self._run_oneway(self._target(name, method), args)

    def _run_oneway(self, target: _Target, args: tuple) -> None:
        try:
            result = target.func(*args)
        except Exception:
            log.exception("one-way call %s failed", target.func.__qualname__)
            return
        if target.is_coroutine:
            self.loop.create_task(result).add_done_callback(_log_oneway_failure)

    def _send_reply(self, src: int, call_id: int, value: Any) -> None:
        if self._stopped is not None:
            return
        try:
            data = _encode((REPLY, call_id, value))
        except _ENCODE_ERRORS as exc:
            self._send_failure(src, call_id,
                               ArgumentEncodeError(f"cannot encode the result: {exc}"))
            return
        if len(data) > self._message_bytes_max:
            self._send_failure(src, call_id, MessageTooLargeError(
                f"result of {len(data)} bytes is over message_bytes_max "
                f"({self._message_bytes_max})"))
            return
        self.reactor.outboxes[src].send(data, False)

    def _send_failure(self, src: int, call_id: int, exc: BaseException) -> None:
        self.stats.calls_failed += 1
        if self._stopped is None:
            data = _encode(Failure(call_id, error_info(exc, self.shard)))
            self.reactor.outboxes[src].send(data, False)
        if isinstance(exc, AssertionError):     # a programmer bug (incl. InternalError)
            self.reactor._publish()             # the caller still learns what happened
            self.loop.call_exception_handler(
                {"message": f"broken invariant in a call from shard {src}", "exception": exc})

    def _target(self, name: str, method: str) -> _Target:
        """The bound method an incoming call runs, cached (nested dicts: the decoded names are
        fresh strings, and hashing one at a time is cheaper than a tuple of two)."""
        methods = self._targets.get(name)
        if methods is not None:
            target = methods.get(method)
            if target is not None:
                return target
        instance = self._instance(name)
        target = _Target(instance, method_info(type(instance), method))
        self._targets.setdefault(name, {})[method] = target
        return target

    def _instance(self, name: str) -> Service:
        instance = self.local.get(name)
        if instance is None:
            raise UnknownServiceError(f"service {name!r} does not run on shard {self.shard}")
        return instance

    def stop(self) -> None:
        """Fail every call in flight; cancel every call running here."""
        self._stopped = exc = ShardStoppedError(f"shard {self.shard} stopped")
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        for task in self._running.values():
            task.cancel()
        self.reactor.stop(exc)

    def calls_in_flight(self) -> int:
        return len(self._pending)


_ENCODE_ERRORS = (TypeError, msgspec.EncodeError, OverflowError)


def _cannot_encode(route: Route, exc: BaseException) -> ArgumentEncodeError:
    return ArgumentEncodeError(f"{route.name}.{route.method}: cannot encode arguments: {exc}")


def error_info(exc: BaseException, shard: int) -> ErrorInfo:
    cls = type(exc)
    args = list(exc.args)
    try:
        _encode(args)
    except (TypeError, msgspec.EncodeError, OverflowError):
        args = [str(exc)]
    text = "".join(traceback.format_exception(exc))
    return ErrorInfo(cls.__module__, cls.__qualname__, args, str(exc), text, shard)


def rebuild_error(info: ErrorInfo) -> BaseException:
    """The remote exception as its own type when it can be rebuilt, else RemoteError."""
    exc: BaseException
    try:
        module = sys.modules.get(info.module) or importlib.import_module(info.module)
        cls: Any = module
        for part in info.qualname.split("."):
            cls = getattr(cls, part)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(info.qualname)
        exc = cls(*info.args)
    except Exception:  # noqa: BLE001 - any failure to rebuild means: report it as RemoteError
        exc = RemoteError(f"{info.module}.{info.qualname}", info.message, info.traceback,
                          info.shard)
    exc.remote_traceback = info.traceback  # type: ignore[attr-defined]
    exc.remote_shard = info.shard  # type: ignore[attr-defined]
    exc.add_note(f"raised on shard {info.shard}:\n{info.traceback.rstrip()}")
    return exc


class _Target:
    """A method of a service instance on this shard, as incoming calls run it: bound once,
    so a call costs one lookup."""

    __slots__ = ("decode_args", "func", "is_coroutine")

    def __init__(self, instance: Service, info):
        self.func = info.func.__get__(instance)
        self.decode_args = info.decode_args
        self.is_coroutine = info.is_coroutine


class Route:
    """A resolved (service method, destination shard): what every call on it reuses."""

    __slots__ = ("dst", "info", "method", "name", "outbox", "slots")

    def __init__(self, dst: int, name: str, info, outbox, slots):
        self.dst = dst
        self.name = name
        self.method = info.name
        self.info = info
        self.outbox = outbox        # None when dst is this shard
        self.slots = slots


class _CallSlots:
    """Caps cross-shard calls in flight per (smp group, destination); FIFO waiters."""

    __slots__ = ("in_use", "limit", "waiters")

    def __init__(self, limit: int):
        self.limit = limit
        self.in_use = 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    async def wait(self) -> None:
        while self.in_use >= self.limit:
            future = asyncio.get_running_loop().create_future()
            self.waiters.append(future)
            try:
                await future
            finally:
                if future in self.waiters:
                    self.waiters.remove(future)

    def wake_one(self) -> None:
        """The caller releasing a slot (inline in call_route) wakes the first live waiter."""
        while self.waiters:
            future = self.waiters.popleft()
            if not future.done():
                future.set_result(None)
                return

    def statistics(self) -> dict[str, int]:
        return {"in_use": self.in_use, "limit": self.limit, "waiters": len(self.waiters)}


class _Continuation:
    """Awaitable that goes on driving a coroutine already run to its first suspension.

    It hands the future the coroutine yielded to the task, then relays every value and
    exception the task sends (the eager task start of Python 3.12, for 3.11).
    """

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro, yielded):
        self._coro = coro
        self._yielded = yielded

    def __await__(self):
        coro, value = self._coro, self._yielded
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - relayed into the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _resumed(coro, yielded):
    return await _Continuation(coro, yielded)


def _log_oneway_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("one-way call failed", exc_info=task.exception())


