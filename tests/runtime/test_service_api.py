"""The cross-shard service API, driven from inside shard 0 of a real two-shard node:
on(shard), on_all(), map_reduce, tell, this_shard()/smp(), typed remote errors, encode and
size limits, messages bigger than the ring, timeouts and cancellation, start/stop order.

After every failure the node must stay healthy: each test ends with follow-up calls.
"""

from __future__ import annotations

import itertools
import os
import uuid

import pytest

from .conftest import NODE_ENV, spec, stop_quietly

RING_BYTES = 64 * 1024
MESSAGE_BYTES_MAX = 8 * 1024 * 1024
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def node(module_node):
    return module_node(
        smp=2, services=[spec("Probe"), spec("ApiDriver")],
        args=["--overprovisioned", "--ring-bytes", "64K", "--message-bytes-max", "8M"])


def assert_healthy(node) -> None:
    """A follow-up call in each direction still works."""
    assert node.call("driver", "call_other")[:3] == [1, 2, 1]
    assert node.call("probe", "whoami", shard=1)[:3] == [1, 2, 1]


def test_on_shard_reaches_the_other_shard(node):
    this, count, owner, pid = node.call("driver", "call_other")
    assert (this, count, owner) == (1, 2, 1)
    assert pid in node.shard_pids()
    assert pid != node.call("probe", "whoami", shard=0)[3]


def test_this_shard_and_smp_say_where_the_code_runs(node):
    assert node.call("driver", "where") == [0, 2]
    assert node.call("probe", "whoami", shard=0)[:3] == [0, 2, 0]
    assert node.call("probe", "whoami", shard=1)[:3] == [1, 2, 1]


def test_on_all_returns_results_in_shard_order(node):
    results = node.call("driver", "call_all")
    assert [r[:3] for r in results] == [[0, 2, 0], [1, 2, 1]]
    assert len({r[3] for r in results}) == 2          # two distinct processes


def test_map_reduce_reduces_every_shards_result(node):
    assert node.call("driver", "map_reduce_sum") == 1 + 2
    assert node.call("driver", "map_reduce_max") == 2


def test_tell_is_one_way_and_arrives_in_order(node):
    told = node.call("driver", "tell_and_collect", 50)
    assert told == [[seq, f"v{seq}"] for seq in range(50)]
    assert_healthy(node)


def test_remote_exception_arrives_as_its_own_type_with_the_remote_traceback(node):
    report = node.call("driver", "remote_exception")
    assert report["type"] == "ProbeError", report
    assert report["module"] == "tests.runtime.services"
    assert "it broke over there" in report["message"]
    assert report["remote_shard"] == 1
    tb = report["remote_traceback"]
    assert "Traceback" in tb and "in boom" in tb and "raise ProbeError(message)" in tb
    assert_healthy(node)


def test_an_exception_that_cannot_be_rebuilt_arrives_as_remote_error(node):
    report = node.call("driver", "remote_unrebuildable")
    assert report["type"] == "RemoteError", report
    assert report["type_name"] == "tests.runtime.services.StrictError"
    assert report["remote_message"] == "code 7: keyword-only"
    assert report["shard"] == 1
    assert "in boom_strict" in report["remote_traceback"]
    assert_healthy(node)


@pytest.mark.parametrize("timeout_s", [None, 5.0])
def test_a_remote_timeout_error_is_not_mistaken_for_a_call_timeout(node, timeout_s):
    report = node.call("driver", "own_timeout_error", 1, timeout_s)
    assert report["type"] == "TimeoutError", report
    assert "the remote method's own timeout" in report["message"]
    assert "in boom_timeout" in report["remote_traceback"]
    local = node.call("driver", "own_timeout_error", 0, timeout_s)     # no hop
    assert local["type"] == "TimeoutError", local
    assert_healthy(node)


def test_unknown_service_and_unknown_method_have_their_own_errors(node):
    assert node.call("driver", "unknown_service").startswith("UnknownServiceError: ")
    unknown_method = node.call("driver", "unknown_method")
    assert unknown_method.startswith("UnknownMethodError: ")
    assert "no_such_method" in unknown_method
    assert_healthy(node)


def test_unencodable_argument_or_result_gives_argument_encode_error(node):
    assert node.call("driver", "unencodable_argument").startswith("ArgumentEncodeError: ")
    assert node.call("driver", "unencodable_result").startswith("ArgumentEncodeError: ")
    assert_healthy(node)


def test_message_over_message_bytes_max_gives_message_too_large(node):
    argument = node.call("driver", "too_large_argument", MESSAGE_BYTES_MAX + 1)
    assert argument.startswith("MessageTooLargeError: "), argument
    assert str(MESSAGE_BYTES_MAX) in argument
    result = node.call("driver", "too_large_result", MESSAGE_BYTES_MAX + 1)
    assert result.startswith("MessageTooLargeError: "), result
    assert_healthy(node)


def test_messages_of_several_mib_cross_a_64k_ring_intact_and_in_order(node):
    sizes = [3 * MiB + 5, 17, 5 * MiB, 64 * 1024, 2 * MiB + 123, 6 * MiB]
    report = node.call("driver", "big_messages", sizes, timeout_s=60)
    assert report["replies"] == report["sent"]
    expected = [[seq, size, digest] for seq, (size, digest)
                in enumerate(zip(sizes, report["sent"]))]
    assert report["told"] == expected             # one-way: arrival order is send order
    assert sorted(report["called"]) == expected   # concurrent calls: each intact
    assert report["echo_intact"] is True
    full_waits = [line for line in node.metrics().splitlines()
                  if line.startswith('panda_ring_full_waits_total{shard="0"}')]
    assert full_waits and float(full_waits[0].split()[-1]) > 0
    assert_healthy(node)


def test_messages_around_chunk_and_ring_sizes_cross_intact(node):
    chunk = RING_BYTES // 4 - 8                  # a record's payload room in a 64K ring
    sizes = sorted({n for edge in (chunk, 2 * chunk, RING_BYTES, 2 * RING_BYTES)
                    for n in range(edge - 48, edge + 48, 5)} | {0, 1, 7, 8, 9})
    assert node.call("driver", "echo_sizes", sizes, timeout_s=60) == []
    assert_healthy(node)


@pytest.mark.parametrize("seed", [1, 2])
def test_concurrent_calls_both_ways_of_random_sizes_all_come_back_intact(node, seed):
    assert node.call("driver", "stress_everywhere", 400, 40_000, seed, timeout_s=60) == []
    assert_healthy(node)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin shards")
def test_pinned_shards_exchange_chunked_messages_both_ways_intact(panda_node):
    """Pinned shards race on the rings for real (this found torn head/tail publishes)."""
    pinned = panda_node(smp=2, services=[spec("Probe"), spec("ApiDriver")],
                        args=["--ring-bytes", "64K"], env=NODE_ENV)
    for seed in range(2):
        assert pinned.call("driver", "stress_everywhere", 1000, 100_000, seed,
                           timeout_s=60) == []
    assert pinned.stop() == 0


def test_keyword_arguments_cross_as_positional_ones(node):
    assert node.call("driver", "keyword_arguments") == [{"k": 1}, None, [3, "kw"]]


def test_calls_in_flight_are_capped_per_destination_shard(panda_node, tmp_path):
    config = tmp_path / "node.yaml"
    config.write_text("calls_in_flight_max: 4\noverprovisioned: true\n")
    capped = panda_node(smp=2, services=[spec("Probe"), spec("ApiDriver")],
                        args=["--config", str(config)], env=NODE_ENV)
    assert capped.call("driver", "concurrent_calls", 40, 0.02) == 4
    assert capped.stop() == 0


_tags = (f"t{uuid.uuid4().hex[:8]}-{i}" for i in itertools.count())


def test_timeout_raises_cross_shard_timeout_and_cancels_the_remote_task(node):
    report = node.call("driver", "timeout_cancels_remote", next(_tags), 0.2)
    assert report["raised"].startswith("CrossShardTimeout: "), report
    assert 0.15 <= report["elapsed_s"] < 2.0
    assert report["state"] == [True, True]     # started, then observed CancelledError
    assert node.call("driver", "local_timeout", next(_tags)).startswith("CrossShardTimeout: ")
    assert_healthy(node)


def test_cancelling_the_caller_cancels_the_remote_call(node):
    report = node.call("driver", "cancel_cancels_remote", next(_tags))
    assert report == {"started": True, "outcome": "cancelled", "state": [True, True]}
    assert_healthy(node)


def test_services_start_in_dependency_order_and_stop_in_reverse(panda_node):
    # Given on the command line in the wrong order: broker, raft, storage.
    node = panda_node(smp=2, services=[spec("Broker"), spec("Raft"), spec("Storage")],
                      args=["--overprovisioned"], env=NODE_ENV)
    assert node.call("rec_broker", "ping", shard=1) == 1
    try:
        assert node.stop() == 0
    finally:
        stop_quietly(node)
    lines = (node.workdir / "data" / "lifecycle.log").read_text().split("\n")[:-1]
    events = [tuple(line.split()) for line in lines]
    order = ["rec_storage", "rec_raft", "rec_broker"]
    starts = [(e[1], int(e[2])) for e in events if e[0] == "start"]
    stops = [(e[1], int(e[2])) for e in events if e[0] == "stop"]
    assert sorted(starts) == sorted(stops) == sorted((s, n) for s in order for n in (0, 1))
    # every shard's start of a service precedes any shard's start of its dependents,
    assert [s for s, _ in starts] == [s for s in order for _ in (0, 1)]
    # and stops run the other way round.
    assert [s for s, _ in stops] == [s for s in reversed(order) for _ in (0, 1)]
    assert events.index(("stop", "rec_broker", "0")) > events.index(("start", "rec_broker", "1"))
