"""Node lifecycle: SIGTERM/SIGINT stop gracefully (services' stop runs, exit 0); a shard that
dies takes the node down, non-zero, naming the shard; a killed node takes its shards with it;
no process and no /dev/shm file outlives a node."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from panda.testing import ServiceCallError

from .conftest import NODE_ENV, spec, stop_quietly, wait_until

pytestmark = pytest.mark.multiprocess

RECORDERS = [spec("Storage"), spec("Raft"), spec("Broker")]
SHM = Path("/dev/shm")


def gone(pid: int) -> bool:
    """The process exited (a zombie whose parent has not reaped it yet counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def lifecycle_events(node) -> list[tuple[str, str, int]]:
    path = node.workdir / "data" / "lifecycle.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(e, s, int(n)) for e, s, n in (line.split() for line in lines)]


def shm_users() -> dict[str, set[int]]:
    """/dev/shm entries -> pids that map them or hold them open, from /proc."""
    users: dict[str, set[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        paths: set[str] = set()
        try:
            for line in (proc / "maps").read_text().splitlines():
                if " /dev/shm/" in line:
                    paths.add(line.split(" /dev/shm/", 1)[1].split(" (deleted)")[0])
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("/dev/shm/"):
                    paths.add(target[len("/dev/shm/"):].split(" (deleted)")[0])
        except OSError:
            continue
        for name in paths:
            users.setdefault(name, set()).add(int(proc.name))
    return users


def start_recording_node(panda_node, smp: int = 2):
    node = panda_node(smp=smp, services=[spec("Probe"), *RECORDERS], args=["--overprovisioned"],
                      env=NODE_ENV)
    pids = [node.call("probe", "whoami", shard=s)[3] for s in range(smp)]
    assert sorted(pids) == sorted(node.shard_pids())
    return node, pids


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_node_gracefully_within_10s(panda_node, signo):
    node, pids = start_recording_node(panda_node)
    started = time.monotonic()
    node.process.send_signal(signo)
    assert node.process.wait(10) == 0
    assert time.monotonic() - started < 10
    stops = [(s, n) for e, s, n in lifecycle_events(node) if e == "stop"]
    assert sorted(stops) == sorted((s, n) for s in ("rec_storage", "rec_raft", "rec_broker")
                                   for n in (0, 1))
    assert all(gone(pid) for pid in pids)
    assert "node stopped (exit 0)" in node.log()


@pytest.mark.parametrize("victim", [1, 0])
def test_a_shard_killed_with_sigkill_takes_the_node_down_naming_it(panda_node, victim):
    node, pids = start_recording_node(panda_node)
    started = time.monotonic()
    os.kill(pids[victim], signal.SIGKILL)
    code = node.process.wait(5)
    assert code != 0
    assert time.monotonic() - started < 5
    log = node.log()
    assert f"shard {victim} exited unexpectedly (killed by SIGKILL)" in log, log
    assert wait_until(lambda: all(gone(pid) for pid in pids), 2)
    survivor = 1 - victim
    stops = {s for e, s, n in lifecycle_events(node) if e == "stop" and n == survivor}
    assert stops == {"rec_storage", "rec_raft", "rec_broker"}     # the survivor stopped


def test_killing_the_node_process_makes_its_shards_exit(panda_node):
    node, pids = start_recording_node(panda_node)
    os.kill(node.process.pid, signal.SIGKILL)
    node.process.wait(5)
    try:
        assert wait_until(lambda: all(gone(pid) for pid in pids), 5), [
            (pid, psutil.Process(pid).status()) for pid in pids if not gone(pid)]
    finally:
        for pid in pids:                    # never leave an orphan behind, even on failure
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_service_that_fails_to_start_stops_the_node_with_its_error(panda_node):
    node = panda_node(smp=2, services=[spec("FailingStart")], args=["--overprovisioned"],
                      env=NODE_ENV, wait=False)
    try:
        code = node.process.wait(15)
    finally:
        stop_quietly(node)
    log = node.log()
    assert code != 0
    assert "exited unexpectedly" in log and "failing_start refuses to start on purpose" in log
    assert "ready: smp=" not in log


def test_no_process_or_dev_shm_file_outlives_a_node(panda_node):
    before = set(os.listdir(SHM))
    node, pids = start_recording_node(panda_node)
    tree = {node.process.pid, *pids}
    users = shm_users()
    ours = {name for name, holders in users.items() if holders & tree}
    assert not ours, f"the node maps or holds /dev/shm files: {ours}"
    during = set(os.listdir(SHM)) - before
    assert not (during - set(users)), "new /dev/shm files nobody holds"
    for pid in tree:
        assert "/dev/shm/" not in Path(f"/proc/{pid}/maps").read_text()
    assert node.stop() == 0
    assert all(gone(pid) for pid in pids)
    leaked = set(os.listdir(SHM)) - before
    foreign = {name for name, holders in shm_users().items() if name in leaked and holders}
    assert leaked <= foreign, f"/dev/shm files left behind: {leaked - foreign}"


def test_a_service_whose_stop_fails_does_not_keep_the_others_from_stopping(panda_node):
    # failing_stop is started last, so it is the first to stop.
    node = panda_node(smp=2, services=[*RECORDERS, spec("FailingStop")],
                      args=["--overprovisioned"], env=NODE_ENV)
    started = time.monotonic()
    code = node.stop(timeout_s=15)
    elapsed = time.monotonic() - started
    log = node.log()
    assert code != 0, log
    assert elapsed < 5, log                       # not the kill after STOP_TIMEOUT_S
    assert "service failing_stop failed to stop" in log
    assert "failing_stop refuses to stop on purpose" in log
    assert "did not stop in time" not in log
    stops = [(s, n) for e, s, n in lifecycle_events(node) if e == "stop"]
    assert sorted(stops) == sorted((s, n) for s in ("rec_storage", "rec_raft", "rec_broker")
                                   for n in (0, 1))


def test_a_shard_killed_while_a_call_to_it_is_in_flight_still_stops_the_node_cleanly(
        panda_node):
    node, pids = start_recording_node(panda_node)
    outcome: list[BaseException | object] = []

    def call() -> None:
        try:
            outcome.append(node.call("probe", "wait_forever", "inflight", shard=1, timeout_s=20))
        except BaseException as exc:  # noqa: BLE001 - any failure is the expected outcome
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    assert wait_until(lambda: node.call("probe", "tag_state", "inflight", shard=1)[0], 5)
    started = time.monotonic()
    os.kill(pids[1], signal.SIGKILL)
    code = node.process.wait(5)
    elapsed = time.monotonic() - started
    caller.join(10)
    log = node.log()
    assert code != 0 and "shard 1 exited unexpectedly" in log
    assert "did not stop in time" not in log, log       # shard 0 stopped by itself
    assert elapsed < 5, log
    assert outcome and isinstance(outcome[0], ServiceCallError), outcome
    assert outcome[0].status == 502 and "ShardStoppedError" in outcome[0].message
    stops = {s for e, s, n in lifecycle_events(node) if e == "stop" and n == 0}
    assert stops == {"rec_storage", "rec_raft", "rec_broker"}


@pytest.mark.parametrize("delay_s", [0.0, 0.01, 0.03])
def test_a_sigterm_while_the_node_starts_stops_it_cleanly(panda_node, delay_s):
    node = panda_node(smp=2, services=RECORDERS, args=["--overprovisioned"], env=NODE_ENV,
                      wait=False)
    assert wait_until(lambda: "started 2 shards" in node.log(), 30, interval_s=0.001)
    time.sleep(delay_s)
    started = time.monotonic()
    node.process.send_signal(signal.SIGTERM)
    code = node.process.wait(10)
    log = node.log()
    assert code == 0, log
    assert time.monotonic() - started < 10
    assert "fatal" not in log and "failed" not in log, log
    if "ready: smp=" in log:                    # never announced ready once stopping
        assert log.index("ready: smp=") < log.index("stopping (SIGTERM)"), log
    starts = {(s, n) for e, s, n in lifecycle_events(node) if e == "start"}
    stops = {(s, n) for e, s, n in lifecycle_events(node) if e == "stop"}
    assert stops == starts                      # whatever started, stopped


def test_a_shard_whose_node_died_before_pdeathsig_was_armed_exits():
    """The race PR_SET_PDEATHSIG leaves open: the node dies between fork and prctl."""
    from panda.runtime.arena import Arena
    from panda.runtime.config import NodeConfig
    from panda.runtime.doorbell import make_eventfd
    from panda.runtime.shard import shard_main

    arena = Arena(1, 64 * 1024)
    doorbell = make_eventfd()
    pid = os.fork()
    if pid == 0:
        try:                        # as if the node that forked us had another pid: it died
            shard_main(0, None, NodeConfig(overprovisioned=True), arena, [doorbell], [],
                       16 << 20, node_pid=os.getppid() + 1_000_000)
        finally:
            os._exit(7)
    statuses: list[int] = []

    def exited() -> bool:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            statuses.append(status)
        return bool(statuses)

    try:
        assert wait_until(exited, 5)
        assert os.waitstatus_to_exitcode(statuses[0]) == 1
    finally:
        os.close(doorbell)
        if not statuses:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
