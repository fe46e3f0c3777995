"""Shared helpers of the runtime acceptance tests: nodes that load tests.runtime.services,
and module-scoped nodes for tests that leave the node running. `wait_until` and
`stop_quietly` come from panda.testing (re-exported here for the test modules)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from panda.testing import NodeProcess, stop_all
from panda.testing import stop_quietly as stop_quietly  # re-exported for the test modules
from panda.testing import wait_until as wait_until

REPO_ROOT = str(Path(__file__).resolve().parents[2])
# The runtime is tested alone: only the admin service runs by default (PANDA_SERVICES
# replaces the configured default list; --service adds to it), not the broker's services.
RUNTIME_ONLY_SERVICES = "panda.services.admin:AdminService"
NODE_ENV = {"PYTHONPATH": REPO_ROOT, "PANDA_SERVICES": RUNTIME_ONLY_SERVICES}
SERVICES = "tests.runtime.services"


def spec(cls_name: str) -> str:
    """'Probe' -> 'tests.runtime.services:Probe'."""
    return f"{SERVICES}:{cls_name}"


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
    stop_all(nodes)
