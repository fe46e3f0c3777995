"""The node process: plans shards, creates the shared arena and doorbells, forks one pinned
process per shard, and supervises them.

It owns every shared segment (an inherited anonymous mapping: nothing to leak). It starts no
thread and no event loop before forking. A shard that exits while the node runs stops the
whole node, non-zero, naming the shard and its last error; SIGTERM/SIGINT stop gracefully,
also when sent to every process of the node at once (shards hand a SIGTERM to the node).
Signals to shards: SIGUSR1 (shard 0) runs the node's graceful stop; SIGUSR2 stops one alone.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from . import constants, logs
from .arena import Arena, ShardState
from .config import NodeConfig, parse_cpuset, ring_bytes_for
from .doorbell import make_eventfd
from .errors import ConfigError
from .memory import plan_budgets
from .service import Service, load_service_classes
from .shard import shard_main

log = logging.getLogger("panda.runtime.node")
_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}


def plan_cpus(config: NodeConfig) -> tuple[int, list[int | None]]:
    """(smp, the CPU each shard pins to, or None when overprovisioned)."""
    allowed = sorted(os.sched_getaffinity(0))
    cpus = parse_cpuset(config.cpuset) if config.cpuset else allowed
    smp = config.smp or len(cpus)
    if config.overprovisioned:
        return smp, [None] * smp
    missing = [c for c in cpus if c not in allowed]
    if missing:
        raise ConfigError(f"cpuset names CPUs this process may not use: {missing} - at $.cpuset")
    if smp > len(cpus):
        raise ConfigError(f"--smp {smp} needs {smp} CPUs but only {len(cpus)} are available "
                          "(use --overprovisioned to share CPUs) - at $.smp")
    return smp, list(cpus[:smp])


class Node:
    """Supervisor of the shard processes."""

    def __init__(self, config: NodeConfig, classes: list[type[Service]],
                 skip_sleep_recheck: bool = False):
        self.config = config
        self.classes = classes
        self.smp, self.cpus = plan_cpus(config)
        self.budget_bytes = plan_budgets(self.smp, config.memory_bytes,
                                         config.reserve_memory_bytes)
        self.arena = Arena(self.smp, ring_bytes_for(self.smp, config.ring_bytes))
        self.doorbell_fds = [make_eventfd() for _ in range(self.smp)]
        self.pids: dict[int, int] = {}
        self._skip_sleep_recheck = skip_sleep_recheck

    def run(self) -> int:
        """Fork the shards and supervise them until the node stops; returns the exit code."""
        # Blocked before fork, so a shard inherits them blocked until its handlers exist
        # (SIGUSR1/SIGUSR2 would otherwise kill a shard signalled while it starts).
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS | {signal.SIGUSR1, signal.SIGUSR2})
        node_pid = os.getpid()
        for shard in range(self.smp):
            pid = os.fork()
            if pid == 0:
                shard_main(shard, self.cpus[shard], self.config, self.arena, self.doorbell_fds,
                           self.classes, self.budget_bytes, self._skip_sleep_recheck,
                           node_pid=node_pid)
            self.pids[shard] = pid
        log.info("started %d shards (pids %s, cpus %s, %d MiB each)", self.smp,
                 list(self.pids.values()), self.cpus, self.budget_bytes >> 20)
        return self._supervise()

    def _supervise(self) -> int:
        started = time.monotonic()
        ready = False
        deadline: float | None = None
        exit_code = 0
        while self.pids:
            info = signal.sigtimedwait(_SIGNALS, 0.05)
            signo = info.si_signo if info is not None else 0
            if signo in (signal.SIGTERM, signal.SIGINT) and deadline is None:
                log.info("stopping (%s)", signal.Signals(signo).name)
                deadline = self._begin_graceful_stop()
            for shard, status in self._reap():
                if deadline is None:
                    exit_code = 1
                    log.error("shard %d exited unexpectedly (%s); last error: %s; "
                              "stopping the node",
                              shard, _describe(status), self.arena.last_error(shard) or "none")
                    deadline = self._stop_after_death()
                elif status != 0 and exit_code == 0:
                    exit_code = 1
                    log.error("shard %d failed while stopping (%s); last error: %s",
                              shard, _describe(status), self.arena.last_error(shard) or "none")
            if not ready and deadline is None and self.arena.state(0) == ShardState.RUNNING:
                ready = True
                log.info("node %d ready: smp=%d", self.config.node_id, self.smp)
            if not ready and deadline is None and (
                    time.monotonic() - started > constants.STARTUP_TIMEOUT_S):
                log.error("node did not start within %.0f s", constants.STARTUP_TIMEOUT_S)
                exit_code, deadline = 1, self._stop_after_death()
            if deadline is not None and time.monotonic() > deadline:
                log.error("shards %s did not stop in time; killing them", sorted(self.pids))
                exit_code = 1
                self._kill_all(signal.SIGKILL)
                deadline = time.monotonic() + 5
        for fd in self.doorbell_fds:
            os.close(fd)
        log.info("node stopped (exit %d)", exit_code)
        return exit_code

    def _reap(self) -> list[tuple[int, int]]:
        done = []
        for shard, pid in list(self.pids.items()):
            waited, status = os.waitpid(pid, os.WNOHANG)
            if waited:
                del self.pids[shard]
                done.append((shard, status))
        return done

    def _begin_graceful_stop(self) -> float:
        if self.arena.state(0) >= ShardState.RUNNING and 0 in self.pids:
            os.kill(self.pids[0], signal.SIGUSR1)
        else:
            self._kill_all(signal.SIGUSR2)     # not every shard is up: each stops alone
        return time.monotonic() + constants.STOP_TIMEOUT_S

    def _stop_after_death(self) -> float:
        self._kill_all(signal.SIGUSR2)         # survivors stop alone, no cross-shard steps
        return time.monotonic() + constants.SHARD_DEATH_STOP_TIMEOUT_S

    def _kill_all(self, signo: int) -> None:
        for pid in self.pids.values():
            try:
                os.kill(pid, signo)
            except ProcessLookupError:
                pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def run_node(config: NodeConfig, skip_sleep_recheck: bool = False) -> int:
    """Load services, plan, fork, supervise. Config errors raise ConfigError."""
    logs.setup(config.log_level, "node")
    classes = load_service_classes(config.services)
    return Node(config, classes, skip_sleep_recheck).run()
