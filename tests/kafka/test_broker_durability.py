"""Zero data loss: every message acknowledged with acks=all survives kill -9 of the whole node
(every shard) in the middle of a produce stream, at the offset it was acknowledged with, in
order, once. Unacknowledged messages may or may not be there."""

from __future__ import annotations

import time

import pytest

from panda.storage.record_batch import Record, build_batch, decode_records

from .conftest import (
    KafkaWire,
    create_topic,
    fetch_body,
    produce_body,
    start_broker,
    stop_quietly,
    unique_topic,
)

pytestmark = pytest.mark.multiprocess

PARTITIONS = 4
ROUNDS = 2
ACKED_BEFORE_KILL = 1500          # per round: the kill lands mid-stream, after this many acks
PRODUCE_S_MAX = 30.0
FETCH_STEPS_MAX = 10_000


def produce_until_killed(node, topic: str, round_: int) -> tuple[list, int]:
    """Produce acks=all as fast as the client goes; kill -9 the node once ACKED_BEFORE_KILL
    messages are acknowledged, while more are in flight. Returns (acks, messages sent), acks
    as (partition, offset, value) from the delivery reports."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": node.kafka_addr, "acks": "all", "linger.ms": 1,
                         "message.timeout.ms": 4000, "retries": 0,
                         "socket.connection.setup.timeout.ms": 2000,
                         "reconnect.backoff.max.ms": 200})
    acked: list[tuple[int, int, bytes]] = []

    def report(err, msg) -> None:
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.value()))

    sent = 0
    killed_at = None
    deadline = time.monotonic() + PRODUCE_S_MAX
    while time.monotonic() < deadline:
        partition = sent % PARTITIONS
        value = b"r%d-p%d-%08d-" % (round_, partition, sent) + bytes(64)
        try:
            producer.produce(topic, value, partition=partition, on_delivery=report)
            sent += 1
        except BufferError:
            producer.poll(0.01)
        producer.poll(0)
        if killed_at is None and len(acked) >= ACKED_BEFORE_KILL:
            node.kill()                           # SIGKILL the node and every shard
            killed_at = len(acked)
        elif killed_at is not None and sent % 200 == 0:
            break                                 # a few more after the kill, then stop
    assert killed_at is not None, f"only {len(acked)} acks in {PRODUCE_S_MAX} s"
    producer.flush(10)
    return acked, sent


def read_partition(addr: str, topic: str, partition: int) -> list[tuple[int, bytes]]:
    """Every (offset, value) of the partition, from offset 0 to the high watermark."""
    records: list[tuple[int, bytes]] = []
    offset = 0
    with KafkaWire(addr) as wire:
        for _ in range(FETCH_STEPS_MAX):
            response = wire.request(1, 12, fetch_body(topic, partition, offset))
            (data,) = response.responses[0].partitions
            assert data.error_code == 0
            blob = memoryview(bytes(data.records))
            position = 0
            while position < len(blob):
                size = int.from_bytes(blob[position + 8: position + 12], "big") + 12
                for record in decode_records(blob, position):
                    records.append((record.offset, record.value))
                position += size
            if records:
                offset = records[-1][0] + 1
            if offset >= data.high_watermark:
                return records
    raise AssertionError(f"partition {partition} not read in {FETCH_STEPS_MAX} fetches")


def check_acked(acked: list, logs: dict[int, list[tuple[int, bytes]]]) -> None:
    for partition, records in logs.items():
        values = [v for _, v in records]
        assert len(values) == len(set(values)), f"partition {partition} holds duplicates"
        assert [o for o, _ in records] == list(range(len(records))), "offsets have gaps"
        # produced in order per partition: sequence numbers only grow along the log
        for round_ in {v.split(b"-")[0] for v in values}:
            seqs = [int(v.split(b"-")[2]) for v in values if v.startswith(round_ + b"-")]
            assert seqs == sorted(seqs), f"partition {partition} out of order"
    by_position = {(p, o): v for p, records in logs.items() for o, v in records}
    lost = [(p, o, v[:16]) for p, o, v in acked if by_position.get((p, o)) != v]
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged messages lost, e.g. {lost[:5]}"


def test_acknowledged_messages_survive_kill_9(tmp_path):
    workdir = tmp_path / "node"
    topic = unique_topic("durable")
    all_acked: list = []
    all_sent = 0
    node = start_broker(workdir)
    try:
        with KafkaWire(node.kafka_addr) as wire:
            assert create_topic(wire, topic, PARTITIONS) == 0
        for round_ in range(ROUNDS):
            acked, sent = produce_until_killed(node, topic, round_)
            assert node.process.poll() is not None
            all_acked += acked
            all_sent += sent
            node = start_broker(workdir)                 # same data dir, new ports
            logs = {p: read_partition(node.kafka_addr, topic, p) for p in range(PARTITIONS)}
            check_acked(all_acked, logs)
            held = sum(map(len, logs.values()))
            assert len(all_acked) <= held <= all_sent
    finally:
        stop_quietly(node)


def test_restart_with_fewer_shards_keeps_every_partition(tmp_path):
    """Partitions of a shard the node no longer has move to the remaining shards with their
    data (they once answered nothing: the handler failed and the connection closed)."""
    workdir = tmp_path / "node"
    topic = unique_topic("fewer")
    node = start_broker(workdir, smp=2)
    try:
        with KafkaWire(node.kafka_addr) as wire:
            assert create_topic(wire, topic, PARTITIONS) == 0
            for p in range(PARTITIONS):
                assert produce_one(wire, topic, p, b"before-%d" % p) == 0
        stop_quietly(node)
        node = start_broker(workdir, smp=1)
        with KafkaWire(node.kafka_addr) as wire:
            for p in range(PARTITIONS):
                assert produce_one(wire, topic, p, b"after-%d" % p) == 0
        for p in range(PARTITIONS):
            values = [v for _, v in read_partition(node.kafka_addr, topic, p)]
            assert values == [b"before-%d" % p, b"after-%d" % p]
    finally:
        stop_quietly(node)


def produce_one(wire: KafkaWire, topic: str, partition: int, value: bytes) -> int:
    records = build_batch([Record(offset=0, timestamp=int(time.time() * 1000), key=None,
                                  value=value, headers=[])])
    response = wire.request(0, 9, produce_body(topic, partition, records))
    return response.responses[0].partition_responses[0].error_code
