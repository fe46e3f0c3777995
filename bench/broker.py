"""Single-node broker benchmark with confluent-kafka: 1 KiB messages, acks=all (fsynced).

    python -m panda.bench.broker [--runs 3] [--messages 100000] [--json]

Per run: a fresh `panda-runtime --smp 2` on loopback and a 6-partition topic; produce
throughput at full speed (msgs/s, MB/s, ack latency), ack latency at a fixed 2,000 msgs/s
(timed from each message's intended send time, so stalls are not hidden), and consume
throughput of everything produced. Median of the runs, min and max beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from panda.testing import NodeProcess

MESSAGE_BYTES = 1024
PARTITIONS = 6
FIXED_RATE = 2000
FIXED_SECONDS = 3.0
RUN_SECONDS_MAX = 120.0


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples) or [0.0]

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "p999_ms": at(0.999), "max_ms": ordered[-1]}


def _producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                     "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
                     "enable.idempotence": False})


def _reporter(report, sent: float):
    return lambda err, msg: report(err, msg, sent)


def _latency_recorder(latencies: list[float], intended: float) -> Callable[[Any, Any], None]:
    """A delivery callback that records ms from the intended send time (no coordinated
    omission)."""
    def record(err: Any, msg: Any) -> None:
        latencies.append((time.perf_counter() - intended) * 1000)
    return record


def produce_max(bootstrap: str, topic: str, count: int) -> dict[str, float]:
    producer = _producer(bootstrap)
    payload = b"x" * MESSAGE_BYTES
    latencies: list[float] = []
    failures = []

    def report(err, msg, sent):
        if err is not None:
            failures.append(err)
        latencies.append((time.perf_counter() - sent) * 1000)

    start = time.perf_counter()
    deadline = start + RUN_SECONDS_MAX
    for i in range(count):
        while True:
            try:
                producer.produce(topic, payload, key=str(i).encode(),
                                 on_delivery=_reporter(report, time.perf_counter()))
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
            if time.perf_counter() > deadline:
                count = i + 1
                break
    producer.flush(60)
    elapsed = time.perf_counter() - start
    assert not failures, f"{len(failures)} deliveries failed: {failures[:3]}"
    return {"msgs_per_s": count / elapsed, "mb_per_s": count * MESSAGE_BYTES / elapsed / 1e6,
            **{f"ack_{k}": v for k, v in _percentiles(latencies).items()}}


def produce_fixed_rate(bootstrap: str, topic: str) -> dict[str, float]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                         "enable.idempotence": False})
    payload = b"y" * MESSAGE_BYTES
    latencies: list[float] = []
    interval = 1.0 / FIXED_RATE
    total = int(FIXED_RATE * FIXED_SECONDS)
    start = time.perf_counter()
    for i in range(total):
        intended = start + i * interval
        while time.perf_counter() < intended:
            producer.poll(0)
        producer.produce(topic, payload, on_delivery=_latency_recorder(latencies, intended))
        producer.poll(0)
    producer.flush(60)
    return _percentiles(latencies)


def consume_all(bootstrap: str, topic: str, expected: int) -> dict[str, float]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench",
                         "enable.auto.commit": False, "fetch.min.bytes": 1,
                         "fetch.wait.max.ms": 100})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = 0
    start = time.perf_counter()
    deadline = start + RUN_SECONDS_MAX
    while got < expected and time.perf_counter() < deadline:
        for message in consumer.consume(10_000, 0.5):
            if message.error() is None:
                got += 1
    elapsed = time.perf_counter() - start
    consumer.close()
    return {"msgs_per_s": got / elapsed, "mb_per_s": got * MESSAGE_BYTES / elapsed / 1e6}


def one_run(messages: int, smp: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="panda-bench-") as workdir:
        node = NodeProcess(Path(workdir), smp=smp).start()
        try:
            bootstrap = node.kafka_addr
            admin = AdminClient({"bootstrap.servers": bootstrap})
            for future in admin.create_topics([NewTopic("bench", PARTITIONS, 1),
                                               NewTopic("bench-rate", PARTITIONS, 1)]).values():
                future.result(30)
            produced = produce_max(bootstrap, "bench", messages)
            fixed = produce_fixed_rate(bootstrap, "bench-rate")
            consumed = consume_all(bootstrap, "bench", messages)
        finally:
            node.stop()
    return {"produce (acks=all, max rate)": produced,
            f"ack latency at {FIXED_RATE} msgs/s (acks=all)": fixed,
            "consume": consumed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--smp", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    runs = [one_run(args.messages, args.smp) for _ in range(args.runs)]
    cases: list[dict[str, Any]] = []
    for case_name in runs[0]:
        figures = {}
        for name in runs[0][case_name]:
            series = [run[case_name][name] for run in runs]
            figures[name] = {"median": statistics.median(series), "min": min(series),
                             "max": max(series)}
        cases.append({"case": case_name, "figures": figures})
    if args.json:
        print(json.dumps({"benchmark": "broker", "runs": args.runs, "messages": args.messages,
                          "message_bytes": MESSAGE_BYTES, "cases": cases}))
    else:
        print("| case | figure | median | min | max |\n|---|---|---|---|---|")
        for case in cases:
            for name, f in case["figures"].items():
                print(f"| {case['case']} | {name} | {f['median']:,.2f} | {f['min']:,.2f} "
                      f"| {f['max']:,.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
