"""A node started with --node-id N says so everywhere: Metadata names it as every partition's
leader, so clients produce and consume through it (they would find no leader otherwise)."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from .conftest import CLIENT_TIMEOUT_S, unique_topic

NODE_ID = 7


def test_a_node_id_other_than_zero_leads_its_partitions(broker_node):
    node = broker_node(smp=1, args=["--node-id", str(NODE_ID)])
    topic = unique_topic()
    producer = Producer({"bootstrap.servers": node.kafka_addr, "acks": "all"})
    producer.produce(topic, key=b"k", value=b"v")
    assert producer.flush(CLIENT_TIMEOUT_S) == 0
    metadata = AdminClient({"bootstrap.servers": node.kafka_addr}).list_topics(
        topic, timeout=CLIENT_TIMEOUT_S)
    assert list(metadata.brokers) == [NODE_ID]
    assert [p.leader for p in metadata.topics[topic].partitions.values()] == [NODE_ID]
    consumer = Consumer({"bootstrap.servers": node.kafka_addr, "group.id": unique_topic("g"),
                         "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        message = None
        for _ in range(int(CLIENT_TIMEOUT_S)):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.value() == b"v"
    finally:
        consumer.close()
