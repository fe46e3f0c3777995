"""GC hygiene: once every service has started, each shard freezes what start-up made (so
full collections skip it) and times every collection into panda_gc_pause_seconds;
--no-gc-freeze leaves the collector as Python sets it."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from .conftest import spec, wait_until

FROZEN = re.compile(r"shard=(\d+) .*gc: (\d+) objects frozen after start-up")


def frozen_by_shard(log: str) -> dict[int, int]:
    return {int(shard): int(count) for shard, count in FROZEN.findall(log)}


def test_each_shard_freezes_its_start_up_objects_and_reports_gc_pauses(module_node):
    node = module_node(smp=2, services=[spec("Probe")], args=["--overprovisioned"])
    assert wait_until(lambda: len(frozen_by_shard(node.log())) == 2, 10), node.log()
    assert all(count > 1000 for count in frozen_by_shard(node.log()).values()), node.log()
    pauses = {f.name: f for f in text_string_to_metric_families(node.metrics())}[
        "panda_gc_pause_seconds"]
    counts = {s.labels["shard"]: s.value for s in pauses.samples
              if s.name == "panda_gc_pause_seconds_count"}
    assert set(counts) == {"0", "1"}, counts    # run-time pauses only: may still be 0


def test_no_gc_freeze_leaves_the_collector_alone(module_node):
    node = module_node(smp=2, services=[spec("Probe")],
                       args=["--overprovisioned", "--no-gc-freeze"])
    assert node.call("probe", "whoami", shard=1)[0] == 1
    assert frozen_by_shard(node.log()) == {}
