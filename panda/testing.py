"""pytest plugin: start real panda-runtime nodes (subprocesses) for tests of sharded services.

    def test_kv(panda_node):
        node = panda_node(smp=2, services=["panda.services.examples.kv:KeyValueStore"])
        node.call("kv", "put", "a", "1")

Each node listens on free loopback ports, logs to a file under the test's tmp dir, and is
stopped (then killed, if need be) when the test ends, pass or fail. Loaded automatically
through the `pytest11` entry point once panda-runtime is installed. Also the helpers every
test folder shares: `free_port`, `wait_until`, `stop_quietly`, `stop_all`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

READY_MARK = "ready: smp="
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
WAIT_INTERVAL_S = 0.02


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout_s: float,
               interval_s: float = WAIT_INTERVAL_S) -> bool:
    """Poll `check` every `interval_s` until it is true or `timeout_s` passed; returns the
    last result (so `assert wait_until(...)` fails with a bounded wait, never hangs)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return check()


class ServiceCallError(Exception):
    """The node answered a service call with an error (HTTP status and message)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class NodeProcess:
    """One `panda-runtime` node started as a subprocess."""

    def __init__(self, workdir: Path, smp: int = 2, services: list[str] | tuple[str, ...] = (),
                 args: list[str] | tuple[str, ...] = (), env: dict[str, str] | None = None):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.admin_port = free_port()
        self.admin_addr = f"127.0.0.1:{self.admin_port}"
        self.kafka_port = free_port()
        self.kafka_addr = f"127.0.0.1:{self.kafka_port}"
        self.log_path = workdir / "node.log"
        self.argv = [sys.executable, "-m", "panda.services.launcher", "--smp", str(smp),
                     "--admin-addr", self.admin_addr, "--kafka-addr", self.kafka_addr,
                     "--data-dir", str(workdir / "data"),
                     *(a for s in services for a in ("--service", s)), *args]
        self._env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> NodeProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                            env=self._env, cwd=self.workdir)
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.kill()                 # a node that never got ready must not outlive us
                raise
        return self

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if READY_MARK in self.log():
                return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise TimeoutError(f"node not ready within {timeout_s} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def shard_pids(self) -> list[int]:
        """Shard process ids, in shard order (from /proc: children of the node process)."""
        import psutil

        assert self.process is not None
        children = psutil.Process(self.process.pid).children()
        return [c.pid for c in sorted(children, key=lambda c: c.create_time())]

    def call(self, service: str, method: str, *args: Any, shard: int | None = None,
             timeout_s: float = 30.0) -> Any:
        """Call a service method through the admin API; returns the decoded result."""
        query = f"?shard={shard}" if shard is not None else ""
        url = f"http://{self.admin_addr}/v1/services/{service}/{method}{query}"
        request = urllib.request.Request(url, data=json.dumps(list(args)).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return json.loads(response.read())["result"]
        except urllib.error.HTTPError as exc:
            body = exc.read()
            exc.close()
            message = json.loads(body).get("error", "") if body else ""
            raise ServiceCallError(exc.code, message) from None

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://{self.admin_addr}/metrics", timeout=30) as response:
            return response.read().decode()

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Signal the node and wait for it; returns its exit code (kills it past the timeout)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the node and every shard it started."""
        if self.process is None:
            return
        import psutil

        try:
            pids = self.shard_pids()
        except psutil.Error:
            pids = []
        for pid in [self.process.pid, *pids]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(10)


def stop_quietly(node: NodeProcess, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop the node if it still runs: SIGTERM, then SIGKILL (node and shards) past
    `timeout_s`; a node that had to be killed raises nothing (teardown goes on)."""
    if node.process is not None and node.process.poll() is None:
        try:
            node.stop(timeout_s=timeout_s)
        except subprocess.TimeoutExpired:
            pass


def stop_all(nodes: Iterable[NodeProcess], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """`stop_quietly` every node, even when stopping one of them fails (the first error
    is raised once every node was tried): for fixtures' teardown."""
    error: BaseException | None = None
    for node in nodes:
        try:
            stop_quietly(node, timeout_s)
        except BaseException as exc:  # the other nodes must still stop
            error = error or exc
    if error is not None:
        raise error


@pytest.fixture
def panda_node(tmp_path: Path) -> Iterator[Any]:
    """Factory: `panda_node(smp=2, services=[...], args=[...])` starts a ready node."""
    nodes: list[NodeProcess] = []

    def start(smp: int = 2, services=(), args=(), env=None, wait: bool = True) -> NodeProcess:
        node = NodeProcess(tmp_path / f"node{len(nodes)}", smp, services, args, env)
        nodes.append(node)
        return node.start(wait)

    yield start
    stop_all(nodes)
