"""The record batch benchmark runs end to end (quick mode) and prints its JSON report."""

from __future__ import annotations

import json

import pytest

from panda.bench import record_batch as bench

pytestmark = pytest.mark.sim


def test_bench_quick_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--quick", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cases = {(case["case"], case["impl"]) for case in report["cases"]}
    assert ("header+crc 1 MiB", "panda") in cases and ("parse 100 rec zstd", "panda") in cases
    assert all(case["min_us"] <= case["median_us"] <= case["max_us"] for case in report["cases"])
