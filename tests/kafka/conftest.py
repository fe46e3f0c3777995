"""Shared helpers of the Kafka broker tests: real `panda-runtime` nodes running the full
broker (the configured default services, whatever PANDA_SERVICES the environment carries),
module-scoped nodes for tests that leave the node running, and bounded waits."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from panda.runtime.config import DEFAULT_SERVICES
from panda.testing import NodeProcess

# The runtime tests narrow PANDA_SERVICES to the admin service; a broker node runs the
# configured defaults (controller, partition manager, Kafka listener, and what joins them).
BROKER_ENV = {"PANDA_SERVICES": ",".join(DEFAULT_SERVICES)}
# A 2-core machine shared with the test process and the clients: no pinning, no busy-poll.
BROKER_ARGS = ("--overprovisioned",)
CLIENT_TIMEOUT_S = 20.0


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll `check` until true or `timeout_s` passed; returns the last result."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return check()


def start_broker(workdir: Path, smp: int = 2, args=(), env=None) -> NodeProcess:
    """A ready node running the full broker, data under workdir/data."""
    node = NodeProcess(workdir, smp, (), (*BROKER_ARGS, *args), {**BROKER_ENV, **(env or {})})
    return node.start()


def stop_quietly(node: NodeProcess) -> None:
    if node.process is not None and node.process.poll() is None:
        try:
            node.stop(timeout_s=15)
        except subprocess.TimeoutExpired:
            pass


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker_node(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Factory of broker nodes for one test: `broker_node(smp=2, args=[...])`."""
    nodes: list[NodeProcess] = []

    def start(smp: int = 2, args=(), env=None, workdir: Path | None = None) -> NodeProcess:
        node = start_broker(workdir or tmp_path / f"broker{len(nodes)}", smp, args, env)
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        stop_quietly(node)


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One 2-shard broker node for the whole module (for tests that don't kill it)."""
    node = start_broker(tmp_path_factory.mktemp("broker"))
    yield node
    stop_quietly(node)


@pytest.fixture(scope="session")
def kcat() -> str:
    path = shutil.which("kcat")
    if path is None:
        pytest.skip("kcat is not installed (`make test` installs it via `make system-deps`, "
                    "or: apt-get install -y kcat)")
    return path
