"""Cross-shard calls on one shard: encodes outgoing calls, runs incoming ones, matches replies.

Owns the table of calls in flight (caller side) and of calls running here (callee side).
Every incoming message is decoded before its ring space is released; nothing here blocks.
Exceptions cross as ErrorInfo and are rebuilt as their own type where possible.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import logging
import sys
import traceback
from functools import partial
from typing import Any

import msgspec

from . import envelope
from .envelope import Cancel, ErrorInfo, Failure, OneWay, Reply, Request
from .errors import (
    ArgumentEncodeError, CrossShardTimeout, MessageTooLargeError, RemoteError,
    ShardStoppedError, UnknownServiceError,
)
from .reactor import Reactor
from .service import Service, method_info

log = logging.getLogger("panda.runtime.dispatcher")
_encode = envelope.encoder.encode
_decode_inbound = envelope.inbound_decoder.decode


class CallStats:
    __slots__ = ("calls_sent", "calls_received", "calls_failed", "calls_timed_out")

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
        self._semaphores: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._stopped: BaseException | None = None
        reactor.deliver = self._deliver

    # -- caller side ---------------------------------------------------------------------
    async def call(self, dst: int, cls: type[Service], method: str, args: tuple,
                   kwargs: dict, timeout: float | None) -> Any:
        info = method_info(cls, method)
        name = cls.service_name()
        if dst == self.shard:
            return await self._call_local(name, info, info.positional(args, kwargs), timeout)
        if self._stopped is not None:
            raise ShardStoppedError(f"shard {self.shard} is stopping")
        payload = self._encode_call(envelope.RequestOut, name, method, info.positional(args, kwargs))
        semaphore = self._semaphore(cls.group(), dst)
        async with semaphore:
            call_id = payload[0]
            future = self.loop.create_future()
            self._pending[call_id] = (future, info.result_decoder)
            self.stats.calls_sent += 1
            try:
                wait = self.reactor.outboxes[dst].send(payload[1], True)
                if wait is not None:
                    await wait
                if timeout is None:
                    return await future
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                if future.done() and not future.cancelled():
                    raise       # the remote method's own TimeoutError, rebuilt
                self.stats.calls_timed_out += 1
                self._cancel_remote(dst, call_id)
                raise CrossShardTimeout(
                    f"{name}.{method} on shard {dst}: no reply within {timeout} s") from None
            except asyncio.CancelledError:
                self._cancel_remote(dst, call_id)
                raise
            finally:
                self._pending.pop(call_id, None)

    def tell(self, dst: int, cls: type[Service], method: str, args: tuple, kwargs: dict):
        """One-way call: no reply, no result; returns a future only if the ring is full."""
        info = method_info(cls, method)
        name = cls.service_name()
        args = info.positional(args, kwargs)
        if dst == self.shard:
            self._start_local_oneway(name, method, args)
            return None
        data = self._encode(envelope.OneWayOut(name, method, args), f"{name}.{method}")
        self.stats.calls_sent += 1
        return self.reactor.outboxes[dst].send(data, True)

    def _encode_call(self, struct_type, name: str, method: str, args: tuple):
        call_id = next(self._ids)
        return call_id, self._encode(struct_type(call_id, name, method, args), f"{name}.{method}")

    def _encode(self, message, what: str) -> bytes:
        try:
            data = _encode(message)
        except (TypeError, msgspec.EncodeError, OverflowError) as exc:
            raise ArgumentEncodeError(f"{what}: cannot encode arguments: {exc}") from None
        if len(data) > self._message_bytes_max:
            raise MessageTooLargeError(
                f"{what}: message of {len(data)} bytes is over message_bytes_max "
                f"({self._message_bytes_max})")
        return data

    def _semaphore(self, group: str, dst: int) -> asyncio.Semaphore:
        key = (group, dst)
        semaphore = self._semaphores.get(key)
        if semaphore is None:
            semaphore = self._semaphores[key] = asyncio.Semaphore(self._calls_in_flight_max)
        return semaphore

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
                raise CrossShardTimeout(f"{name}.{info.name}: no result within {timeout} s") from None
        return result

    # -- callee side ---------------------------------------------------------------------
    def _deliver(self, src: int, view: memoryview) -> None:
        message = _decode_inbound(view)
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
            instance = self._instance(message.service)
            info = method_info(type(instance), message.method)
            args = info.decode_args(message.args)
            result = info.func(instance, *args)
        except BaseException as exc:  # noqa: BLE001 - every failure travels back to the caller
            self._send_failure(src, message.call_id, exc)
            return
        if not info.is_coroutine:
            self._send_reply(src, message.call_id, result)
            return
        task = self.loop.create_task(result)
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
            instance = self._instance(message.service)
            info = method_info(type(instance), message.method)
            args = info.decode_args(message.args)
        except Exception:
            log.exception("one-way call %s.%s from shard %d failed", message.service,
                          message.method, src)
            return
        self._run_oneway(instance, info, args)

    def _start_local_oneway(self, name: str, method: str, args: tuple) -> None:
        instance = self._instance(name)
        self._run_oneway(instance, method_info(type(instance), method), args)

    def _run_oneway(self, instance, info, args: tuple) -> None:
        try:
            result = info.func(instance, *args)
        except Exception:
            log.exception("one-way call %s failed", info.name)
            return
        if info.is_coroutine:
            self.loop.create_task(result).add_done_callback(_log_oneway_failure)

    def _send_reply(self, src: int, call_id: int, value: Any) -> None:
        if self._stopped is not None:
            return
        try:
            data = _encode(envelope.ReplyOut(call_id, value))
        except (TypeError, msgspec.EncodeError, OverflowError) as exc:
            self._send_failure(src, call_id, ArgumentEncodeError(f"cannot encode the result: {exc}"))
            return
        if len(data) > self._message_bytes_max:
            self._send_failure(src, call_id, MessageTooLargeError(
                f"result of {len(data)} bytes is over message_bytes_max ({self._message_bytes_max})"))
            return
        self.reactor.outboxes[src].send(data, False)

    def _send_failure(self, src: int, call_id: int, exc: BaseException) -> None:
        self.stats.calls_failed += 1
        if self._stopped is None:
            data = _encode(Failure(call_id, error_info(exc, self.shard)))
            self.reactor.outboxes[src].send(data, False)

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
    except Exception:
        exc = RemoteError(f"{info.module}.{info.qualname}", info.message, info.traceback,
                          info.shard)
    exc.remote_traceback = info.traceback  # type: ignore[attr-defined]
    exc.remote_shard = info.shard  # type: ignore[attr-defined]
    exc.add_note(f"raised on shard {info.shard}:\n{info.traceback.rstrip()}")
    return exc


def _log_oneway_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("one-way call failed", exc_info=task.exception())


