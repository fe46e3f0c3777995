"""Shards are processes: `--smp N` forks N of them, each pinned to its own CPU (or to none
with --overprovisioned), each running a uvloop reactor, all children of the node process."""

from __future__ import annotations

import os

import psutil
import pytest

from .conftest import NODE_ENV, spec

ALLOWED = sorted(os.sched_getaffinity(0))


def shard_pids_by_shard(node, smp: int) -> list[int]:
    """Shard pids in shard order, asked from each shard itself."""
    return [node.call("probe", "whoami", shard=s)[3] for s in range(smp)]


@pytest.mark.skipif(len(ALLOWED) < 2, reason="needs two CPUs to pin two shards")
def test_smp_2_starts_two_processes_each_pinned_to_a_distinct_cpu(panda_node):
    node = panda_node(smp=2, services=[spec("Probe")], env=NODE_ENV)
    pids = shard_pids_by_shard(node, 2)
    assert sorted(pids) == sorted(node.shard_pids())
    assert len(set(pids)) == 2 and node.process.pid not in pids
    assert all(psutil.Process(pid).ppid() == node.process.pid for pid in pids)
    affinities = [os.sched_getaffinity(pid) for pid in pids]
    assert affinities == [{ALLOWED[0]}, {ALLOWED[1]}]      # default: the first smp allowed CPUs
    assert [node.call("probe", "loop_module", shard=s) for s in (0, 1)] == ["uvloop"] * 2
    assert node.stop() == 0


@pytest.mark.skipif(len(ALLOWED) < 2, reason="needs two CPUs")
def test_cpuset_chooses_the_cpus(panda_node):
    cpu = ALLOWED[-1]
    node = panda_node(smp=1, services=[spec("Probe")], args=["--cpuset", str(cpu)], env=NODE_ENV)
    (pid,) = node.shard_pids()
    assert os.sched_getaffinity(pid) == {cpu}
    assert node.stop() == 0


def test_overprovisioned_shards_are_not_pinned_and_run_uvloop(panda_node):
    smp = len(ALLOWED) + 1              # more shards than CPUs is fine when overprovisioned
    node = panda_node(smp=smp, services=[spec("Probe")], args=["--overprovisioned"],
                      env=NODE_ENV)
    pids = shard_pids_by_shard(node, smp)
    assert len(set(pids)) == smp and sorted(pids) == sorted(node.shard_pids())
    for pid in pids:
        assert os.sched_getaffinity(pid) == set(ALLOWED)
    modules = [node.call("probe", "loop_module", shard=s) for s in range(smp)]
    assert modules == ["uvloop"] * smp
    assert node.stop() == 0


def test_the_shard_plan_defaults_to_one_shard_per_allowed_cpu():
    from panda.runtime.config import NodeConfig
    from panda.runtime.node import plan_cpus

    assert plan_cpus(NodeConfig()) == (len(ALLOWED), ALLOWED)
    assert plan_cpus(NodeConfig(smp=1)) == (1, ALLOWED[:1])
    assert plan_cpus(NodeConfig(smp=1, cpuset=str(ALLOWED[-1]))) == (1, [ALLOWED[-1]])
    assert plan_cpus(NodeConfig(smp=3, overprovisioned=True)) == (3, [None] * 3)
    assert plan_cpus(NodeConfig(overprovisioned=True)) == (len(ALLOWED), [None] * len(ALLOWED))
