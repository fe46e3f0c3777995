"""Shared helpers of the runtime acceptance tests: nodes that load tests.runtime.services,
module-scoped nodes for tests that leave the node running, and bounded waits."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from panda.testing import NodeProcess

REPO_ROOT = str(Path(__file__).resolve().parents[2])
# The runtime is tested alone: only the admin service runs by default (PANDA_SERVICES
# replaces the configured default list; --service adds to it), not the broker's services.
RUNTIME_ONLY_SERVICES = "panda.services.admin:AdminService"
NODE_ENV = {"PYTHONPATH": REPO_ROOT, "PANDA_SERVICES": RUNTIME_ONLY_SERVICES}
SERVICES = "tests.runtime.services"


def spec(cls_name: str) -> str:
    """'Probe' -> 'tests.runtime.services:Probe'."""
    return f"{SERVICES}:{cls_name}"


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.02) -> bool:
    """Poll `check` until true or `timeout_s` passed; returns the last result."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return check()


def stop_quietly(node: NodeProcess) -> None:
    if node.process is not None and node.process.poll() is None:
        try:
            node.stop(timeout_s=10)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture(scope="module")
def module_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., NodeProcess]]:
    """Like panda_node, but the nodes live for the whole module (for tests that don't kill
    them): `module_node(smp=2, services=[...], args=[...])`."""
    nodes: list[NodeProcess] = []

    def start(smp: int = 2, services=(), args=(), env=None) -> NodeProcess:
        workdir = tmp_path_factory.mktemp("node")
        node = NodeProcess(workdir, smp, services, args, {**NODE_ENV, **(env or {})})
        nodes.append(node)
        return node.start()

    yield start
    for node in nodes:
        stop_quietly(node)
