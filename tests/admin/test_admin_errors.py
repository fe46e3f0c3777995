"""The admin API's error tree: what a service call raised becomes one status, tried in the
documented order (an ArgumentEncodeError is a TypeError first: 400, not 502)."""

from __future__ import annotations

import msgspec
import pytest

from panda.runtime.errors import (
    ArgumentEncodeError,
    CrossShardTimeout,
    ShardStoppedError,
    UnknownMethodError,
    UnknownServiceError,
)
from panda.runtime.metrics import MetricsRegistry
from panda.services.admin import errors
from panda.services.admin.probe import AdminProbe


@pytest.mark.parametrize("exc, status, kind", [
    (UnknownServiceError("nope"), 404, errors.NotFoundError),
    (UnknownMethodError("nope"), 404, errors.NotFoundError),
    (msgspec.DecodeError("bad json"), 400, errors.BadRequestError),
    (ValueError("bad shard"), 400, errors.BadRequestError),
    (ArgumentEncodeError("cannot encode"), 400, errors.BadRequestError),
    (CrossShardTimeout("slow"), 504, errors.ShardTimeoutError),
    (ShardStoppedError("gone"), 502, errors.ShardCallError),
    (RuntimeError("boom"), 500, errors.MethodFailedError),
])
def test_exceptions_map_to_one_status(exc, status, kind):
    error = errors.for_exception(exc)
    assert type(error) is kind and error.status == status
    assert str(exc) in str(error)
    if status != 400:
        assert str(error).startswith(type(exc).__name__ + ": ")


def test_probe_counts_requests_per_route_and_scrape_latency():
    metrics = MetricsRegistry()
    probe = AdminProbe(metrics)
    probe.request_served("call")
    probe.scraped(1500)
    families = {f.name: f for f in metrics.snapshot(shard=0)}
    requests = {s.labels["route"]: s.value for s in families["panda_admin_requests_total"].samples}
    assert requests == {"metrics": 1, "status": 0, "call": 1}
    latency = families["panda_admin_scrape_latency_seconds"]
    assert [s.value for s in latency.samples if s.suffix == "_count"] == [1]
