"""Kafka wire codec benchmark: decode and encode of Produce, Fetch and Metadata requests
and responses with panda.net.kafka, against kafka-python's `kafka.protocol` classes on
the same bodies in the same run.

    python -m panda.bench.protocol [--runs 7] [--seconds-per-run 0.2] [--json | --markdown]

Every figure is messages/s, the median of --runs repeated runs with min and max beside it;
the ratio is median(panda) / median(kafka-python).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from panda.net.kafka import codec, decode_body, encode_body

RUNS_DEFAULT = 7
RUN_SECONDS_DEFAULT = 0.2
CALIBRATE_SECONDS = 0.02
SLICES_PER_RUN = 10
RECORDS_BYTES = 1024


def _kp():
    from kafka.protocol.consumer import FetchRequest, FetchResponse
    from kafka.protocol.metadata import MetadataRequest, MetadataResponse
    from kafka.protocol.producer import ProduceRequest, ProduceResponse
    return {
        "ProduceRequest": ProduceRequest, "ProduceResponse": ProduceResponse,
        "FetchRequest": FetchRequest, "FetchResponse": FetchResponse,
        "MetadataRequest": MetadataRequest, "MetadataResponse": MetadataResponse,
    }


# ---- workloads: one realistic body per message, built with our types -----------------------

def _produce_request(m):
    mod = m.module
    parts = [mod.PartitionProduceData(index=i, records=bytes(RECORDS_BYTES)) for i in range(4)]
    return m.message(transactional_id=None, acks=-1, timeout_ms=30000,
                     topic_data=[mod.TopicProduceData(name="orders", partition_data=parts)])


def _produce_response(m):
    mod = m.module
    parts = [mod.PartitionProduceResponse(index=i, base_offset=1000 * i, log_append_time_ms=-1,
                                          log_start_offset=0) for i in range(4)]
    return m.message(responses=[mod.TopicProduceResponse(name="orders", partition_responses=parts)])


def _fetch_request(m):
    mod = m.module
    parts = [mod.FetchPartition(partition=i, fetch_offset=5000 + i, partition_max_bytes=1 << 20)
             for i in range(8)]
    return m.message(replica_id=-1, max_wait_ms=500, min_bytes=1, max_bytes=50 << 20,
                     session_id=7, session_epoch=3,
                     topics=[mod.FetchTopic(topic="orders", partitions=parts)])


def _fetch_response(m):
    mod = m.module
    parts = [mod.PartitionData(partition_index=i, high_watermark=9000, last_stable_offset=9000,
                               log_start_offset=0, aborted_transactions=None,
                               records=bytes(RECORDS_BYTES)) for i in range(8)]
    return m.message(session_id=7, responses=[mod.FetchableTopicResponse(topic="orders",
                                                                          partitions=parts)])


def _metadata_request(m):
    mod = m.module
    return m.message(topics=[mod.MetadataRequestTopic(topic_id=uuid.UUID(int=0), name=f"topic-{i}")
                             for i in range(3)])


def _metadata_response(m):
    mod = m.module
    brokers = [mod.MetadataResponseBroker(node_id=i, host=f"broker-{i}.local", port=9092,
                                          rack=None) for i in range(3)]
    topics = []
    for t in range(10):
        parts = [mod.MetadataResponsePartition(partition_index=p, leader_id=p % 3, leader_epoch=4,
                                               replica_nodes=[0, 1, 2], isr_nodes=[0, 1, 2],
                                               offline_replicas=[]) for p in range(12)]
        topics.append(mod.MetadataResponseTopic(name=f"topic-{t}", topic_id=uuid.UUID(int=t + 1),
                                                partitions=parts))
    return m.message(brokers=brokers, cluster_id="panda-cluster", controller_id=0, topics=topics)


CASES = [  # (api, message, version, builder)
    ("Produce", "ProduceRequest", 9, _produce_request),
    ("Produce", "ProduceResponse", 9, _produce_response),
    ("Fetch", "FetchRequest", 12, _fetch_request),
    ("Fetch", "FetchResponse", 12, _fetch_response),
    ("Metadata", "MetadataRequest", 12, _metadata_request),
    ("Metadata", "MetadataResponse", 12, _metadata_response),
]


# ---- timing -------------------------------------------------------------------------------

def _calibrate(fn: Callable[[], Any], seconds: float) -> int:
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= CALIBRATE_SECONDS:
            per_call = (time.perf_counter() - t0) / n
            return max(1, int(seconds / per_call))
        n *= 2


def _timed(fn: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0


def _summary(rates: list[float]) -> dict[str, float]:
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def _pair(ours: Callable, theirs: Callable, runs: int, seconds: float) -> dict[str, Any]:
    """Each run alternates short slices of both sides (SLICES_PER_RUN each), so load
    from other processes hits both alike; a run's rate is its calls over its time."""
    n_ours = max(1, _calibrate(ours, seconds) // SLICES_PER_RUN)
    n_theirs = max(1, _calibrate(theirs, seconds) // SLICES_PER_RUN)
    a, b = [], []
    for _ in range(runs):
        t_ours = t_theirs = 0.0
        for _ in range(SLICES_PER_RUN):
            t_ours += _timed(ours, n_ours)
            t_theirs += _timed(theirs, n_theirs)
        a.append(n_ours * SLICES_PER_RUN / t_ours)
        b.append(n_theirs * SLICES_PER_RUN / t_theirs)
    sa, sb = _summary(a), _summary(b)
    return {"panda": sa, "kafka_python": sb, "ratio": sa["median"] / sb["median"]}


def _case(kp: dict, name: str, version: int, build, runs: int, seconds: float) -> dict:
    m = codec(name)
    body = build(m)
    wire = bytes(encode_body(m, version, body))
    kcls = kp[name]
    theirs = kcls.decode(wire, version=version)
    theirs._header = None  # decode leaves it unset; encode reads it
    assert bytes(theirs.encode(version=version)) == wire, f"{name}: kafka-python disagrees"
    ours_back, end = decode_body(m, version, wire)
    assert end == len(wire) and ours_back == body
    return {
        "decode": _pair(lambda: decode_body(m, version, wire),
                        lambda: kcls.decode(wire, version=version), runs, seconds),
        "encode": _pair(lambda: encode_body(m, version, body),
                        lambda: theirs.encode(version=version), runs, seconds),
        "bytes": len(wire),
    }


def run(runs: int, seconds: float) -> list[dict[str, Any]]:
    kp = _kp()
    rows = []
    for api, name, version, build in CASES:
        result = _case(kp, name, version, build, runs, seconds)
        for op in ("decode", "encode"):
            rows.append({"api": api, "message": name, "version": version, "op": op,
                         "bytes": result["bytes"], **result[op]})
    return rows


def _fmt(s: dict[str, float]) -> str:
    return f"{s['median']:>9,.0f} ({s['min']:,.0f}-{s['max']:,.0f})"


def table(rows: list[dict[str, Any]]) -> str:
    out = [("| message | version | bytes | op | panda msg/s median (min-max) | "
           "kafka-python msg/s median (min-max) | ratio |"),
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['message']} | v{r['version']} | {r['bytes']} | {r['op']} | "
                   f"{_fmt(r['panda'])} | {_fmt(r['kafka_python'])} | {r['ratio']:.1f}x |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m panda.bench.protocol")
    parser.add_argument("--runs", type=int, default=RUNS_DEFAULT)
    parser.add_argument("--seconds-per-run", type=float, default=RUN_SECONDS_DEFAULT)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--markdown", action="store_true",
                        help="print the docs/benchmarks.md section")
    args = parser.parse_args(argv)
    rows = run(args.runs, args.seconds_per_run)
    if args.json:
        print(json.dumps({"benchmark": "protocol", "runs": args.runs, "rows": rows,
                          "kafka_python": _kafka_python_version()}, indent=1))
    elif args.markdown:
        print(section(rows, args.runs))
    else:
        print(table(rows))
    return 0


def _kafka_python_version() -> str:
    import kafka
    return str(kafka.__version__)


def section(rows: list[dict[str, Any]], runs: int) -> str:
    """The '## Kafka protocol codecs' section of docs/benchmarks.md."""
    ratios = [r["ratio"] for r in rows]
    below = ", ".join(f"{r['message']} {r['op']} ({r['ratio']:.1f}x)" for r in rows
                      if r["ratio"] < 3.0)
    return "\n".join([
        "## Kafka protocol codecs",
        "",
        (f"`python -m panda.bench.protocol --runs {runs}` (`bench/protocol.py`; `--json` for "
        "JSON, `--markdown` prints this section). Each row decodes or encodes one message "
        "body (no header) of a realistic shape, with `panda.net.kafka.decode_body` / "
        "`encode_body` and with kafka-python "
        f"{_kafka_python_version()}'s `kafka.protocol` classes (`Cls.decode(data, version=v)`, "
        "`obj.encode(version=v)`) on the same bytes, alternating in 10 slices per run. Messages/s, "
        f"median of {runs} runs with min-max; ratio = panda median / kafka-python median. "
        f"CPython {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}, 2 shared cores with "
        "other work running (absolute figures are noisy; ratios are steadier)."),
        "",
        ("Workloads: Produce v9 request = 1 topic x 4 partitions x 1 KiB records (opaque), "
        "response = 4 partitions; Fetch v12 request = 1 topic x 8 partitions, response = 8 "
        "partitions x 1 KiB records; Metadata v12 request = 3 topics, response = 3 brokers, "
        "10 topics x 12 partitions x 3 replicas."),
        "",
        table(rows),
        "",
        (f"Ratios range {min(ratios):.1f}x-{max(ratios):.1f}x; below the 3x target in this "
         f"run: {below or 'none'}. kafka-python 3 also generates flat per-version code at "
         "run time, so the gap comes from cheaper objects (msgspec Structs), length prefixes "
         "read and written with the neighbouring fixed-width fields, speculative one-call "
         "decoding of arrays whose elements hold their defaults or share the first "
         "element's shape, one Struct per shape when packing, and a size-then-fill encoder. "
         "Where elements carry variable fields (Produce partitions with their records, Fetch "
         "responses) both sides run about the same bytecode per field, which caps decode "
         "near 2x."),
    ])


if __name__ == "__main__":
    sys.exit(main())
