"""Producer and consumer worker processes of bench/kafka.py (confluent-kafka).

Each worker is started with `spawn`, builds its client, says "ready" on its pipe, and waits
for ("start", t0, warm_end, end) in CLOCK_MONOTONIC nanoseconds (shared by all processes of
the machine). Every message carries an 8-byte stamp: its intended send time at a fixed rate
(coordinated-omission-correct), its produce-call time at max rate. Loops are bounded in
time; workers never touch the brokers' processes and exit on their own.
"""

from __future__ import annotations

import functools
import gc
import struct
import sys
import threading
import time
from typing import Any, Self

from panda.bench._hdr import Histogram

STAMP = struct.Struct("<Q")
READY_WAIT_S = 60.0
FLUSH_TIMEOUT_S = 30.0
BEHIND_MAX_NS = 10_000_000_000  # a fixed-rate producer gives up 10 s behind its schedule
PROGRESS_EVERY_NS = 250_000_000
CONSUMER_LIFETIME_S = 600.0
SPIN_BELOW_NS = 60_000  # shorter waits spin; longer ones sleep
SWITCH_INTERVAL_S = 0.0002  # GIL switch interval in the workers (CPython's default is 5 ms)
REPORT_POLL_S = 0.01
CONSUME_WAIT_S = 0.05
JOIN_TIMEOUT_S = 5.0

# The same client settings for both brokers; only bootstrap.servers differs.
CONSUMER_SETTINGS = {
    "session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000,
    "max.poll.interval.ms": 300_000, "partition.assignment.strategy": "range",
    "auto.offset.reset": "earliest", "enable.auto.commit": False,
    # 500: librdkafka's default; --fetch-wait-ms
    "fetch.wait.max.ms": 500, "fetch.min.bytes": 1, "socket.nagle.disable": True,
}


def producer_settings(spec: dict[str, Any]) -> dict[str, Any]:
    return {"bootstrap.servers": spec["bootstrap"], "client.id": f"bench-p{spec['index']}",
            "acks": str(spec["acks"]), "linger.ms": spec["linger_ms"],
            "batch.size": spec["batch_bytes"],
            "queue.buffering.max.messages": spec["max_queued_messages"],
            "enable.idempotence": False, "compression.type": "none",
            "socket.nagle.disable": True, "message.timeout.ms": 60_000}


class _Window:
    """Start, end of warm-up and end of the run (monotonic ns), and per-bin counters."""

    def __init__(self, t0: int, warm_end: int, end: int, bin_ns: int, bins: int):
        self.t0, self.warm_end, self.end, self.bin_ns = t0, warm_end, end, bin_ns
        self.bins = [0] * bins
        self.in_window = 0

    def count(self, now: int) -> None:
        slot = (now - self.t0) // self.bin_ns
        if 0 <= slot < len(self.bins):
            self.bins[slot] += 1
        if self.warm_end <= now < self.end:
            self.in_window += 1

    def measured(self, stamp: int) -> bool:
        return self.warm_end <= stamp < self.end


def _wait_start(conn: Any) -> tuple[int, int, int, int, int] | None:
    if not conn.poll(READY_WAIT_S):
        return None
    message = conn.recv()
    return None if message[0] != "start" else tuple(message[1:])


class _Deliveries:
    """Delivery reports: publish latency from each message's stamp, acks per bin."""

    def __init__(self, window: _Window):
        self.window = window
        self.hist = Histogram()
        self.acked = 0
        self.failed = 0
        self.errors: list[str] = []

    def report(self, stamp: int, err: Any, _msg: Any) -> None:
        now = time.monotonic_ns()
        if err is not None:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(str(err))
            return
        self.acked += 1
        self.window.count(now)
        if self.window.measured(stamp):
            self.hist.record_us((now - stamp) / 1000)


def _freeze_gc() -> None:
    """Move what set-up made out of later collections: unfrozen, a full collection paused a
    producer for 30-75 ms, which showed as publish latency of whichever broker ran."""
    gc.collect()
    gc.freeze()


def producer_main(spec: dict[str, Any], conn: Any, progress: Any) -> None:
    from confluent_kafka import Producer

    sys.setswitchinterval(SWITCH_INTERVAL_S)  # hand the GIL over quickly to the report thread
    producer = Producer(producer_settings(spec))
    producer.list_topics(spec["topics"][0], timeout=20)
    _freeze_gc()
    conn.send(("ready", spec["index"]))
    start = _wait_start(conn)
    if start is None:
        return
    window = _Window(*start)
    deliveries = _Deliveries(window)
    filler = b"\0" * max(0, spec["message_bytes"] - STAMP.size)
    if spec["rate_msgs_per_s"]:
        with _ReportThread(producer):
            sent, behind = _fixed_rate(producer, spec, window, deliveries, filler, progress)
    else:
        sent, behind = _max_rate(producer, spec, window, deliveries, filler, progress)
    unflushed = producer.flush(FLUSH_TIMEOUT_S)
    conn.send(("result", {"sent": sent, "acked": deliveries.acked, "failed": deliveries.failed,
                          "unflushed": unflushed, "behind_schedule": behind,
                          "errors": deliveries.errors, "acked_in_window": window.in_window,
                          "bins": window.bins, "hist": deliveries.hist.dumps()}))


class _ReportThread:
    """Serves delivery reports as soon as they arrive while the sender sleeps to its schedule
    (a blocking poll wakes on the first report), so reports are not held until the next send."""

    def __init__(self, producer: Any):
        self.producer = producer
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="delivery-reports", daemon=True)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            self.producer.poll(REPORT_POLL_S)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(JOIN_TIMEOUT_S)


def _produce(producer: Any, topic: str, stamp: int, filler: bytes, deliveries: _Deliveries,
             deadline: int, serve_reports: bool) -> bool:
    """Produce one message, waiting (bounded) while librdkafka's queue is full; only the
    thread that owns the delivery reports polls for them."""
    callback = functools.partial(deliveries.report, stamp)
    while True:
        try:
            producer.produce(topic, STAMP.pack(stamp) + filler, on_delivery=callback)
            return True
        except BufferError:
            if serve_reports:
                producer.poll(0.001)
            else:
                time.sleep(0.0005)
            if time.monotonic_ns() > deadline:
                return False


def _fixed_rate(producer: Any, spec: dict[str, Any], window: _Window, deliveries: _Deliveries,
                filler: bytes, progress: Any) -> tuple[int, int]:
    """Send at the producer's share of the rate; stamps are intended send times."""
    interval = 1e9 * spec["producers"] / spec["rate_msgs_per_s"]
    offset = spec["index"] * 1e9 / spec["rate_msgs_per_s"]  # interleave the producers
    topics, sent, next_report = spec["topics"], 0, window.t0
    while True:
        intended = window.t0 + int(offset + sent * interval)
        if intended >= window.end:
            return sent, 0
        now = time.monotonic_ns()
        if now > window.end + BEHIND_MAX_NS:
            return sent, int((window.end - intended) / interval)
        if now < intended:
            wait = intended - now
            if wait > SPIN_BELOW_NS:
                time.sleep((wait - SPIN_BELOW_NS // 2) / 1e9)
            continue
        if not _produce(producer, topics[sent % len(topics)], intended, filler, deliveries,
                        window.end + BEHIND_MAX_NS, serve_reports=False):
            return sent, int((window.end - intended) / interval)
        sent += 1
        if now >= next_report:
            progress.put(("acked", spec["index"], deliveries.acked))
            next_report = now + PROGRESS_EVERY_NS


def _max_rate(producer: Any, spec: dict[str, Any], window: _Window, deliveries: _Deliveries,
              filler: bytes, progress: Any) -> tuple[int, int]:
    """Send as fast as librdkafka's bounded queue takes; stamps are produce-call times."""
    topics, sent, next_report = spec["topics"], 0, window.t0
    while time.monotonic_ns() < window.t0:
        time.sleep(0.001)
    while True:
        now = time.monotonic_ns()
        if now >= window.end:
            return sent, 0
        for _ in range(64):
            if not _produce(producer, topics[sent % len(topics)], time.monotonic_ns(), filler,
                            deliveries, window.end, serve_reports=True):
                return sent, 0
            sent += 1
        producer.poll(0)
        if now >= next_report:
            progress.put(("acked", spec["index"], deliveries.acked))
            next_report = now + PROGRESS_EVERY_NS


def consumer_main(spec: dict[str, Any], conn: Any, progress: Any) -> None:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": spec["bootstrap"], "group.id": spec["group"],
                         "client.id": f"bench-c{spec['index']}", **CONSUMER_SETTINGS,
                         "fetch.wait.max.ms": spec["fetch_wait_ms"]})
    index = spec["index"]

    def assigned(_consumer: Any, partitions: list) -> None:
        progress.put(("assigned", index, len(partitions)))

    def revoked(_consumer: Any, _partitions: list) -> None:
        progress.put(("assigned", index, 0))

    consumer.subscribe(spec["topics"], on_assign=assigned, on_revoke=revoked)
    _freeze_gc()
    try:
        result = _consume(consumer, conn, progress, index)
    finally:
        consumer.close()
    conn.send(("result", result))


def _consume(consumer: Any, conn: Any, progress: Any, index: int) -> dict[str, Any]:
    """Poll until told to stop (bounded by CONSUMER_LIFETIME_S); e2e latency from stamps."""
    window: _Window | None = None
    hist = Histogram()
    received, next_report = 0, 0
    errors: list[str] = []
    deadline = time.monotonic() + CONSUMER_LIFETIME_S
    while time.monotonic() < deadline:
        if conn.poll(0):
            message = conn.recv()
            if message[0] == "stop":
                break
            window = _Window(*message[1:])
        # consume() with a timeout waits to fill the whole batch: take what is there, and
        # block only in poll(), which returns on the first message.
        batch = consumer.consume(1000, 0) or [consumer.poll(CONSUME_WAIT_S)]
        for msg in batch:
            if msg is None:
                continue
            now = time.monotonic_ns()
            if msg.error() is not None:
                if len(errors) < 5:
                    errors.append(str(msg.error()))
                continue
            received += 1
            if window is not None:
                window.count(now)
                stamp = STAMP.unpack_from(msg.value())[0]
                if window.measured(stamp):
                    hist.record_us((now - stamp) / 1000)
        now = time.monotonic_ns()
        if now >= next_report:
            progress.put(("received", index, received))
            next_report = now + PROGRESS_EVERY_NS
    return {"received": received, "errors": errors, "hist": hist.dumps(),
            "received_in_window": window.in_window if window else 0,
            "bins": window.bins if window else []}
