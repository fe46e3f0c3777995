"""Test kinds: every collected test gets exactly one of the markers `unit`, `sim` or
`multiprocess` (see tests/README.md). A test that uses a process-starting fixture is
`multiprocess`; a module may declare its kind with `pytestmark`; the rest are `unit`.
A `unit` test that starts a process fails at once, naming the marker it needs. Also keeps
pytest's assertion rewriting to the tests (not the product code under test)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

KINDS = ("unit", "sim", "multiprocess")
# Fixtures that start nodes or child processes (panda.testing, tests/*/conftest.py, and the
# module fixtures built on them: pytest lists a test's fixtures transitively); kcat's tests
# run the kcat binary.
PROCESS_FIXTURES = frozenset({"panda_node", "module_node", "broker_node", "module_broker",
                              "kcat"})
# Audit events (PEP 578) that start a process.
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn",
                            "os.spawn", "os.exec", "os.system"})

_running_unit: str | None = None          # node id of the `unit` test running now, if any


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test its kind marker (declared, else by its fixtures, else `unit`)."""
    for item in items:
        declared = {mark.name for mark in item.iter_markers() if mark.name in KINDS}
        if len(declared) > 1:
            raise pytest.UsageError(f"{item.nodeid}: one kind per test, not {sorted(declared)}")
        if not declared:
            starts = PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            item.add_marker("multiprocess" if starts else "unit")


def _refuse_processes_in_units(event: str, _args: tuple) -> None:
    if _running_unit is not None and event in PROCESS_EVENTS:
        raise RuntimeError(f"{_running_unit} is a `unit` test but starts a process ({event}): "
                           "declare `pytestmark = pytest.mark.multiprocess` in its module")


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_refuse_processes_in_units)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Rewrite the asserts of test code only. pytest marks the whole `panda` package for
    assertion rewriting because `panda.testing` is a plugin: that would run our product
    code rewritten, and recompile ~290 modules on every run when bytecode is not cached
    (PYTHONDONTWRITEBYTECODE), about 2.5 s of CPU. Private pytest state: if it moves,
    this does nothing and everything still works."""
    hook = session.config.pluginmanager.rewrite_hook
    marked = getattr(hook, "_must_rewrite", None)
    cache = getattr(hook, "_marked_for_rewrite_cache", None)
    if isinstance(marked, set) and isinstance(cache, dict):
        marked.discard("panda")
        cache.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """While a `unit` test runs (setup, call, teardown), starting a process raises."""
    global _running_unit
    _running_unit = item.nodeid if item.get_closest_marker("unit") else None
    try:
        return (yield)
    finally:
        _running_unit = None
