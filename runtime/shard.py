"""One shard: a pinned process running a uvloop reactor, its rings and its services.

Owns the shard's lifecycle: start the transport and the control service, start services in
dependency order when shard 0 says so, stop them in reverse, leave the last error in the
arena for the node. An exception that escapes here ends the process non-zero: never limp on.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import traceback
from typing import Any

import psutil
import uvloop

from . import constants, logs
from .arena import Arena, ShardState
from .config import NodeConfig
from .dispatcher import Dispatcher
from .gc_pauses import GcPauses, freeze_after_start
from .memory import MemoryBudget
from .metrics import MetricsRegistry
from .reactor import Reactor
from .service import Service, dependency_order
from .service_ref import ServiceRef
from .stall_detector import StallDetector

log = logging.getLogger("panda.runtime.shard")
_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2}

_current: ShardRuntime | None = None


def current() -> ShardRuntime:
    """The runtime of the shard this code runs on."""
    if _current is None:
        raise RuntimeError("not running inside a panda-runtime shard")
    return _current


class ShardRuntime:
    """Everything one shard owns; reachable through `current()` inside the shard."""

    def __init__(self, shard: int, config: NodeConfig, arena: Arena, doorbell_fds: list[int],
                 classes: list[type[Service]], budget_bytes: int):
        self.shard = shard
        self.smp = arena.smp
        self.config = config
        self.arena = arena
        self.classes = dependency_order([RuntimeControl, *classes])
        self.memory = MemoryBudget(budget_bytes)
        self.metrics = MetricsRegistry()
        self._doorbell_fds = doorbell_fds
        self._refs: dict[type, ServiceRef] = {}
        self._started: list[Service] = []
        self._transport_stopped = False
        self._node_pid = os.getppid()
        self._starting: asyncio.Task | None = None      # shard 0's node start, while it runs
        self.stop_failed = False        # a service's stop raised: exit non-zero
        self.stopped: asyncio.Future | None = None
        self.reactor: Reactor
        self.dispatcher: Dispatcher
        self.stall_detector: StallDetector

    def service(self, cls: type[Service]) -> ServiceRef:
        ref = self._refs.get(cls)
        if ref is None:
            ref = self._refs[cls] = ServiceRef(self.dispatcher, cls, self.smp)
        return ref

    async def run(self, skip_sleep_recheck: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.stopped = loop.create_future()
        self.reactor = Reactor(self.shard, self.arena, self._doorbell_fds,
                               idle_poll_us=self.config.idle_poll_us,
                               overprovisioned=self.config.overprovisioned,
                               skip_sleep_recheck=skip_sleep_recheck)
        self.dispatcher = Dispatcher(self.reactor, message_bytes_max=self.config.message_bytes_max,
                                     calls_in_flight_max=self.config.calls_in_flight_max)
        self._register_metrics()
        self.stall_detector.start()
        poller = loop.create_task(self.reactor.run(), name="reactor")
        poller.add_done_callback(_fatal_if_failed)
        self._instantiate()
        self._install_signals(loop)
        self.arena.set_state(self.shard, ShardState.READY)
        if self.shard == 0:
            self._starting = loop.create_task(self._start_node(), name="start-node")
            self._starting.add_done_callback(_fatal_if_failed)
        await self.stopped
        await asyncio.sleep(0.01)          # let the last replies be published
        self._stop_transport()
        self.stall_detector.stop()
        await poller

    def _instantiate(self) -> None:
        for cls in self.classes:
            if self.shard in cls.placement(self.smp):
                instance = cls()
                instance.shard = self.shard
                instance.smp = self.smp
                if cls.config_type is not None:
                    instance.config = self.section(cls)
                self.dispatcher.local[cls.service_name()] = instance

    def section(self, cls: type[Service]) -> Any:
        """`cls`'s config section: the node config's, or the Struct's defaults if the node
        config was built without it (a NodeConfig made by hand)."""
        assert cls.config_type is not None, f"{cls.service_name()} declares no config_type"
        value = getattr(self.config, cls.section_name(), None)
        return value if isinstance(value, cls.config_type) else cls.config_type()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        """Handlers first, then unblock: a stop signal that came earlier waited for them."""
        loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        loop.add_signal_handler(signal.SIGUSR2, self._on_stop_alone)
        if self.shard == 0:
            loop.add_signal_handler(signal.SIGUSR1, self._on_graceful_stop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    # -- node-wide start and stop, driven by shard 0 -------------------------------------
    async def _start_node(self) -> None:
        await self._wait_all_ready()
        control = self.service(RuntimeControl)
        for cls in self.classes:
            if cls is not RuntimeControl:
                await control.on_all().start_service(cls.service_name())
        await control.on_all().settle_gc(self.config.gc_freeze)
        self.arena.set_state(0, ShardState.RUNNING)
        log.info("all services started: %s", ", ".join(c.service_name() for c in self.classes))

    async def _wait_all_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + constants.STARTUP_TIMEOUT_S
        while not all(self.arena.state(s) >= ShardState.READY for s in range(self.smp)):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("shards did not come up in time")
            await asyncio.sleep(0.001)

    def _on_graceful_stop(self) -> None:
        asyncio.get_running_loop().create_task(self._stop_node()).add_done_callback(_fatal_if_failed)

    async def _stop_node(self) -> None:
        control = self.service(RuntimeControl)
        for cls in reversed(self.classes):
            if cls is not RuntimeControl:
                await control.on_all(timeout=constants.STOP_TIMEOUT_S).stop_service(
                    cls.service_name())
        await asyncio.gather(*(control.on(s).exit() for s in range(1, self.smp)))
        self.finish()

    def _on_sigterm(self) -> None:
        """A SIGTERM sent to a shard (`pkill`, a service manager stopping the whole process
        group) asks the node for its graceful stop; with the node gone, stop alone."""
        parent = os.getppid()
        if parent == self._node_pid:
            os.kill(parent, signal.SIGTERM)
        else:
            self._on_stop_alone()

    def _on_stop_alone(self) -> None:
        """SIGUSR2 from the node: stop this shard alone (another shard died, or the node is
        stopping before every shard is up)."""
        asyncio.get_running_loop().create_task(self._stop_local()).add_done_callback(_fatal_if_failed)

    async def _stop_local(self) -> None:
        """Calls in flight fail first (their peer may be the shard that died), then each
        service stops within SHARD_DEATH_STOP_TIMEOUT_S."""
        self.arena.set_state(self.shard, ShardState.STOPPING)
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()          # stopped while starting: not a failure
        self._stop_transport()
        for instance in reversed(self._started):
            await self._stop_instance(instance, constants.SHARD_DEATH_STOP_TIMEOUT_S)
        self._started.clear()
        self.finish()

    def _stop_transport(self) -> None:
        if not self._transport_stopped:
            self._transport_stopped = True
            self.dispatcher.stop()

    # -- per-shard service lifecycle (called through RuntimeControl) ----------------------
    async def start_service(self, name: str) -> None:
        instance = self.dispatcher.local.get(name)
        if instance is not None:
            await instance.start()
            self._started.append(instance)

    async def stop_service(self, name: str) -> None:
        instance = self.dispatcher.local.get(name)
        if instance is not None and instance in self._started:
            self._started.remove(instance)
            await self._stop_instance(instance)

    async def _stop_instance(self, instance: Service, timeout_s: float | None = None) -> None:
        """A failed stop is logged and left as the last error (the shard then exits
        non-zero); it never keeps the other services from stopping."""
        try:
            await asyncio.wait_for(instance.stop(), timeout_s)
        except Exception as exc:
            log.exception("service %s failed to stop", type(instance).service_name())
            self.stop_failed = True
            self.arena.set_last_error(self.shard, f"{type(exc).__name__}: {exc}")

    def finish(self) -> None:
        self.arena.set_state(self.shard, ShardState.STOPPED)
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(None)

    def _register_metrics(self) -> None:
        m, stats, calls = self.metrics, self.reactor.stats, self.dispatcher.stats
        m.counter("panda_ring_sent_messages_total", "Messages this shard put on its rings",
                  lambda: stats.sent_messages)
        m.counter("panda_ring_sent_bytes_total", "Bytes this shard put on its rings",
                  lambda: stats.sent_bytes)
        m.counter("panda_ring_received_messages_total", "Messages taken from incoming rings",
                  lambda: stats.received_messages)
        m.counter("panda_ring_received_bytes_total", "Bytes taken from incoming rings",
                  lambda: stats.received_bytes)
        m.counter("panda_ring_full_waits_total", "Sends that found the ring full and waited",
                  lambda: stats.full_waits)
        m.counter("panda_reactor_sleeps_total", "Times the reactor slept on its doorbell",
                  lambda: stats.sleeps)
        m.counter("panda_smp_calls_sent_total", "Cross-shard calls sent", lambda: calls.calls_sent)
        m.counter("panda_smp_calls_failed_total", "Cross-shard calls answered with an error",
                  lambda: calls.calls_failed)
        m.gauge("panda_smp_calls_in_flight", "Cross-shard calls awaiting a reply",
                self.dispatcher.calls_in_flight)
        m.gauge("panda_reactor_tasks", "Tasks alive on this shard's loop",
                lambda: len(asyncio.all_tasks()))
        m.gauge("panda_memory_budget_bytes", "This shard's memory budget",
                lambda: self.memory.budget_bytes)
        m.gauge("panda_memory_reserved_bytes", "Bytes reserved through shard_memory.reserve",
                lambda: self.memory.reserved_bytes)
        process = psutil.Process()
        m.gauge("panda_memory_rss_bytes", "Resident set size of this shard's process",
                lambda: process.memory_info().rss)
        m.counter("panda_reactor_stalls_total", "Callbacks that held the loop past the threshold",
                  lambda: self.stall_detector.stalls)
        lag = m.histogram("panda_reactor_lag_seconds", "Lateness of the reactor heartbeat")
        self.gc_pauses = GcPauses(m.histogram("panda_gc_pause_seconds",
                                              "Time each garbage collection held the shard"))
        self.stall_detector = StallDetector(self.config.blocked_reactor_notify_ms, lag)


class RuntimeControl(Service):
    """The runtime's own service on every shard: lifecycle steps and metrics gathering."""

    name = "runtime"
    smp_group = "runtime"

    async def start_service(self, name: str) -> None:
        await current().start_service(name)

    async def stop_service(self, name: str) -> None:
        await current().stop_service(name)

    async def exit(self) -> None:
        current().finish()

    async def settle_gc(self, freeze: bool) -> None:
        """After start-up: freeze its objects (if asked), then time every collection."""
        if freeze:
            freeze_after_start()
        current().gc_pauses.install()

    async def metrics(self) -> list[Any]:
        return current().metrics.snapshot(self.shard)

    async def ping(self, value: Any = None) -> Any:
        return value


def _fatal_if_failed(task: asyncio.Task) -> None:
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    shard = current()
    text = "".join(traceback.format_exception(exc))
    log.critical("fatal: %s", text.rstrip())
    shard.arena.set_last_error(shard.shard, f"{type(exc).__name__}: {exc}")
    logging.shutdown()
    os._exit(1)


def shard_main(shard: int, cpu: int | None, config: NodeConfig, arena: Arena,
               doorbell_fds: list[int], classes: list[type[Service]], budget_bytes: int,
               skip_sleep_recheck: bool = False, node_pid: int | None = None) -> None:
    """Entry point of a forked shard process; never returns. It dies with the node
    (PR_SET_PDEATHSIG), including a node that died before the signal was armed."""
    global _current
    code = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if node_pid is not None and os.getppid() != node_pid:
            os._exit(1)                      # the node is already gone
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, _STOP_SIGNALS)   # until handlers exist
        logs.setup(config.log_level, f"{shard}")
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        arena.set_pid(shard, os.getpid())
        _current = ShardRuntime(shard, config, arena, doorbell_fds, classes, budget_bytes)
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(_loop_exception_handler)
        loop.run_until_complete(_current.run(skip_sleep_recheck))
        code = 1 if _current.stop_failed else 0
    except BaseException as exc:  # noqa: BLE001 - report every way out of a shard
        text = "".join(traceback.format_exception(exc)).rstrip()
        log.critical("shard %d failed: %s", shard, text)
        arena.set_last_error(shard, f"{type(exc).__name__}: {exc}")
    finally:
        logging.shutdown()
        os._exit(code)


def _loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    if isinstance(exc, AssertionError):
        shard = current()
        log.critical("invariant broken: %s", context.get("message"), exc_info=exc)
        shard.arena.set_last_error(shard.shard, f"{type(exc).__name__}: {exc}")
        logging.shutdown()
        os._exit(1)
    loop.default_exception_handler(context)
