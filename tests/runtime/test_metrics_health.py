"""Health and metrics: the stall detector reports a callback holding the reactor past
--blocked-reactor-notify-ms with the blocking stack; /metrics serves every shard's ring,
task, loop-lag and memory metrics with a `shard` label, in valid Prometheus text."""

from __future__ import annotations

import re
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import spec, wait_until

SMP = 3


@pytest.fixture(scope="module")
def node(module_node):
    return module_node(smp=SMP, services=[spec("Probe"), spec("ApiDriver")],
                       args=["--overprovisioned", "--blocked-reactor-notify-ms", "50"])


def families(node) -> dict:
    return {f.name: f for f in text_string_to_metric_families(node.metrics())}


def by_shard(family, sample_name: str | None = None) -> dict[str, float]:
    name = sample_name or family.name
    return {s.labels["shard"]: s.value for s in family.samples if s.name == name}


def stall_reports(log: str) -> list[str]:
    """Each 'reactor stalled' warning with the stack lines that follow it."""
    return re.findall(r"^.*reactor stalled.*\n(?:  .*\n?)*", log, flags=re.MULTILINE)


def test_a_blocked_reactor_is_reported_with_the_blocking_stack(node):
    assert node.call("probe", "block_the_loop", 0.3, shard=1) == "blocked"

    def reported() -> bool:
        return any("block_the_loop" in r for r in stall_reports(node.log()))

    assert wait_until(reported, 5), node.log()
    report = next(r for r in stall_reports(node.log()) if "block_the_loop" in r)
    first = report.splitlines()[0]
    assert "WARNING shard=1 " in first and "threshold 50 ms" in first
    assert "time.sleep(seconds)" in report and "tests/runtime/services.py" in report
    stalls = by_shard(families(node)["panda_reactor_stalls"], "panda_reactor_stalls_total")
    assert stalls["1"] >= 1
    assert node.call("probe", "whoami", shard=1)[0] == 1              # still serving


def test_metrics_are_valid_prometheus_text_with_a_shard_label_for_every_shard(node):
    node.call("driver", "call_all")
    node.call("driver", "tell_and_collect", 10)
    shards = {str(s) for s in range(SMP)}
    found = families(node)
    expected = {
        "panda_ring_sent_messages": ("counter", "panda_ring_sent_messages_total"),
        "panda_ring_sent_bytes": ("counter", "panda_ring_sent_bytes_total"),
        "panda_ring_received_messages": ("counter", "panda_ring_received_messages_total"),
        "panda_ring_received_bytes": ("counter", "panda_ring_received_bytes_total"),
        "panda_ring_full_waits": ("counter", "panda_ring_full_waits_total"),
        "panda_reactor_tasks": ("gauge", "panda_reactor_tasks"),
        "panda_memory_rss_bytes": ("gauge", "panda_memory_rss_bytes"),
        "panda_memory_budget_bytes": ("gauge", "panda_memory_budget_bytes"),
        "panda_reactor_lag_seconds": ("histogram", "panda_reactor_lag_seconds_count"),
        "panda_reactor_lag_seconds_quantiles": ("gauge", "panda_reactor_lag_seconds_quantiles"),
    }
    for name, (kind, sample) in expected.items():
        assert name in found, f"{name} missing from /metrics"
        assert found[name].type == kind, name
        assert found[name].documentation, name
        assert set(by_shard(found[name], sample)) == shards, name
    sent = by_shard(found["panda_ring_sent_messages"], "panda_ring_sent_messages_total")
    received = by_shard(found["panda_ring_received_bytes"], "panda_ring_received_bytes_total")
    assert sent["0"] > 0 and all(received[s] > 0 for s in shards - {"0"})
    assert all(v >= 1 for v in by_shard(found["panda_reactor_tasks"]).values())
    assert all(v > 1 << 20 for v in by_shard(found["panda_memory_rss_bytes"]).values())


def test_the_loop_lag_histogram_is_consistent_on_every_shard(node):
    lag = families(node)["panda_reactor_lag_seconds"]
    for shard in range(SMP):
        samples = [s for s in lag.samples if s.labels["shard"] == str(shard)]
        buckets = [(s.labels["le"], s.value) for s in samples if s.name.endswith("_bucket")]
        count = next(s.value for s in samples if s.name.endswith("_count"))
        total = next(s.value for s in samples if s.name.endswith("_sum"))
        bounds = [float(le) for le, _ in buckets]
        assert bounds == sorted(bounds) and buckets[-1][0] == "+Inf"
        values = [v for _, v in buckets]
        assert values == sorted(values) and values[-1] == count > 0
        assert total >= 0
    quantiles = families(node)["panda_reactor_lag_seconds_quantiles"]
    for shard in range(SMP):
        qs = {s.labels["quantile"]: s.value for s in quantiles.samples
              if s.labels["shard"] == str(shard)}
        assert set(qs) == {"0.5", "0.99", "0.999"}
        assert qs["0.5"] <= qs["0.99"] <= qs["0.999"]


def test_metrics_are_served_as_text_plain(node):
    url = f"http://{node.admin_addr}/metrics"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        body = response.read().decode()
    assert body.endswith("\n") and "# TYPE panda_ring_sent_messages_total counter" in body
