"""Partitions live on both shards, and a connection accepted by one shard produces to and
fetches from a partition owned by the other (the request hops over the shard ring).

Which shard accepted a connection is read from the kernel: the shard process whose socket
has the client's port as its remote end (psutil, like `ss -tnp`)."""

from __future__ import annotations

import json
import re
import time

import psutil

from panda.net.kafka import decode_response, messages
from panda.storage.record_batch import Record, build_batch, decode_records, read_header

from .conftest import KafkaWire, create_topic, fetch_body, produce_body, unique_topic

PARTITIONS = 4
CONNECTIONS_MAX = 64          # SO_REUSEPORT hashes each 4-tuple; both shards appear long before


def accepting_shard(node, wire: KafkaWire) -> int:
    """The shard whose process holds the broker end of this connection."""
    client_port = wire.sock.getsockname()[1]
    for shard, pid in enumerate(node.shard_pids()):
        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if (conn.laddr and conn.laddr.port == node.kafka_port and conn.raddr
                    and conn.raddr.port == client_port):
                return shard
    raise AssertionError(f"no shard holds the connection from port {client_port}")


def one_connection_per_shard(node) -> dict[int, KafkaWire]:
    """Open connections until each shard has accepted one (bounded); close the others."""
    found: dict[int, KafkaWire] = {}
    for _ in range(CONNECTIONS_MAX):
        wire = KafkaWire(node.kafka_addr)
        wire.request(18, 3, messages.ApiVersionsRequest())      # accepted and served
        shard = accepting_shard(node, wire)
        if shard in found:
            wire.close()
        else:
            found[shard] = wire
        if len(found) == 2:
            break
    return found


def test_partitions_live_on_both_shards(module_broker):
    topic = unique_topic("spread")
    with KafkaWire(module_broker.kafka_addr) as wire:
        assert create_topic(wire, topic, PARTITIONS) == 0
    table_path = module_broker.workdir / "data" / "controller" / "topic_table.json"
    table = json.loads(table_path.read_text())
    shards = table["topics"][topic]["shards"]
    assert sorted(set(shards)) == [0, 1] and len(shards) == PARTITIONS
    for shard in (0, 1):        # each shard's partition manager holds exactly its partitions
        held = {p for t, p, _ in module_broker.call("partition_manager", "describe", shard=shard)
                if t == topic}
        assert held == {p for p, owner in enumerate(shards) if owner == shard}


def test_connection_on_one_shard_serves_partitions_of_the_other(module_broker):
    topic = unique_topic("hop")
    with KafkaWire(module_broker.kafka_addr) as wire:
        assert create_topic(wire, topic, PARTITIONS) == 0
    table_path = module_broker.workdir / "data" / "controller" / "topic_table.json"
    shards = json.loads(table_path.read_text())["topics"][topic]["shards"]
    connections = one_connection_per_shard(module_broker)
    assert sorted(connections) == [0, 1], "SO_REUSEPORT gave every connection to one shard"
    try:
        gauges = dict(re.findall(r'^panda_kafka_connections\{shard="(\d)"\} (\S+)$',
                                 module_broker.metrics(), re.MULTILINE))
        assert float(gauges["0"]) >= 1 and float(gauges["1"]) >= 1, gauges
        for shard, wire in connections.items():
            other = next(p for p, owner in enumerate(shards) if owner != shard)
            now = int(time.time() * 1000)
            sent = [Record(offset=i, timestamp=now + i, key=b"from-shard-%d" % shard,
                           value=b"to-partition-%d-%d" % (other, i), headers=[])
                    for i in range(3)]
            response = wire.request(0, 9, produce_body(topic, other, build_batch(sent)))
            (result,) = response.responses[0].partition_responses
            assert result.error_code == 0
            fetched = wire.request(1, 12, fetch_body(topic, other, result.base_offset))
            (data,) = fetched.responses[0].partitions
            assert data.error_code == 0
            got = decode_records(bytes(data.records))
            assert [(r.key, r.value) for r in got] == [(r.key, r.value) for r in sent]
            assert accepting_shard(module_broker, wire) == shard     # still the same shard
    finally:
        for wire in connections.values():
            wire.close()



def test_pipelined_produces_from_both_shards_to_one_partition_keep_order(module_broker):
    """Each connection pipelines its produce requests to one partition while the other
    connection (on the other shard) does the same: every request is appended once, and each
    connection's requests land in the order it sent them."""
    topic = unique_topic("order")
    with KafkaWire(module_broker.kafka_addr) as wire:
        assert create_topic(wire, topic, 1) == 0
    connections = one_connection_per_shard(module_broker)
    assert sorted(connections) == [0, 1]
    per_connection = 150
    try:
        sent: dict[int, list[tuple[int, bytes]]] = {0: [], 1: []}
        for i in range(per_connection):
            for shard, wire in connections.items():
                value = b"shard%d-%04d" % (shard, i)
                batch = build_batch([Record(offset=0, timestamp=int(time.time() * 1000),
                                            key=None, value=value, headers=[])])
                sent[shard].append((wire.send(0, 9, produce_body(topic, 0, batch)), value))
        placed: dict[int, bytes] = {}
        for shard, wire in connections.items():
            offsets = []
            for correlation, value in sent[shard]:
                header, response, _ = decode_response(wire.read_frame(), 0, 9)
                assert header.correlation_id == correlation
                (result,) = response.responses[0].partition_responses
                assert result.error_code == 0
                offsets.append(result.base_offset)
                placed[result.base_offset] = value
            assert offsets == sorted(offsets), f"shard {shard}'s requests were reordered"
        assert sorted(placed) == list(range(2 * per_connection))
        read: dict[int, bytes] = {}
        wire = connections[0]
        while len(read) < len(placed):
            fetched = wire.request(1, 12, fetch_body(topic, 0, len(read)))
            (data,) = fetched.responses[0].partitions
            blob = bytes(data.records)
            assert data.error_code == 0 and blob
            position = 0
            while position < len(blob):
                read.update((r.offset, r.value) for r in decode_records(blob, position))
                position += read_header(blob, position).size_bytes
        assert read == placed
    finally:
        for wire in connections.values():
            wire.close()


def wide_produce(topic: str, partitions: range, value_bytes: int):
    """One ProduceRequest with a batch of one value_bytes record for each partition."""
    mod = messages.module("ProduceRequest")
    now = int(time.time() * 1000)
    return messages.ProduceRequest(acks=-1, timeout_ms=10_000, topic_data=[mod.TopicProduceData(
        name=topic, partition_data=[mod.PartitionProduceData(index=p, records=build_batch(
            [Record(offset=0, timestamp=now, key=None, value=bytes([p]) * value_bytes,
                    headers=[])])) for p in partitions])])


def test_wide_produce_and_fetch_stay_within_one_cross_shard_message(broker_node):
    """Requests over many partitions travel to each owning shard in calls under
    message_bytes_max: a 24-partition produce once failed half its partitions with
    REQUEST_TIMED_OUT (retried forever), and a 24-partition fetch read 11 MB for a 2 MB ask
    and closed the connection; a single batch over the limit is MESSAGE_TOO_LARGE."""
    from confluent_kafka import Consumer, TopicPartition

    node = broker_node(args=["--message-bytes-max", "4M"])
    topic, partitions, value_bytes = unique_topic("wide"), 24, 900_000
    mod = messages.module("FetchRequest")
    with KafkaWire(node.kafka_addr) as wire:
        assert create_topic(wire, topic, partitions) == 0
        produced = wire.request(0, 9, wide_produce(topic, range(partitions), value_bytes))
        assert [r.error_code for r in produced.responses[0].partition_responses] == [0] * 24
        huge = unique_topic("huge")
        assert create_topic(wire, huge, 2, {"max.message.bytes": str(8 << 20)}) == 0
        produced = wire.request(0, 9, wide_produce(huge, range(2), 5 << 20))
        errors = {r.error_code for r in produced.responses[0].partition_responses}
        assert errors == {0, 10}, "the local shard's batch is taken, the remote's too large"
        for max_bytes in (2_000_000, 100_000_000):
            body = messages.FetchRequest(max_wait_ms=0, min_bytes=1, max_bytes=max_bytes, topics=[
                mod.FetchTopic(topic=topic, partitions=[mod.FetchPartition(
                    partition=p, fetch_offset=0, partition_max_bytes=1 << 20)
                    for p in range(partitions)])])
            datas = wire.request(1, 12, body).responses[0].partitions
            sizes = [len(d.records) for d in datas]
            assert all(d.error_code == 0 for d in datas)
            assert value_bytes <= sum(sizes) <= max(max_bytes, 2 * 4 * 1024 * 1024)
    consumer = Consumer({"bootstrap.servers": node.kafka_addr, "group.id": "unused",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen: set[int] = set()
    deadline = time.monotonic() + 20
    try:
        while len(seen) < partitions and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None:
                assert msg.error() is None, msg.error()
                assert msg.value() == bytes([msg.partition()]) * value_bytes
                seen.add(msg.partition())
    finally:
        consumer.close()
    assert len(seen) == partitions
    assert "request handler failed" not in node.log()
