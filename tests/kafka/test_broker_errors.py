"""The broker's Kafka errors over raw sockets (exact frames from panda.net.kafka): unknown
topic or partition, message too large, corrupt message, invalid topic, offset out of range,
unsupported version; and a request over kafka.request_bytes_max closes only its connection."""

from __future__ import annotations

import struct
import time

import pytest

from panda.net.kafka import decode_response, messages
from panda.storage.record_batch import Record, build_batch

from .conftest import (
    CLIENT_TIMEOUT_S,
    KafkaWire,
    create_topic,
    fetch_body,
    produce_body,
    start_broker,
    stop_quietly,
    unique_topic,
)

pytestmark = pytest.mark.multiprocess

OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE, UNKNOWN_TOPIC_OR_PARTITION = 1, 2, 3
MESSAGE_TOO_LARGE, INVALID_TOPIC_EXCEPTION, UNSUPPORTED_VERSION, INVALID_REQUEST = 10, 17, 35, 42
REQUEST_MAX_BYTES = 64 * 1024
PRODUCE_V, FETCH_V, METADATA_V, LIST_OFFSETS_V = 9, 12, 12, 7


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A broker whose requests are capped at 64 KiB (PANDA_KAFKA_REQUEST_BYTES_MAX)."""
    node = start_broker(tmp_path_factory.mktemp("errors"),
                        env={"PANDA_KAFKA_REQUEST_BYTES_MAX": str(REQUEST_MAX_BYTES)})
    yield node
    stop_quietly(node)


@pytest.fixture
def wire(node):
    with KafkaWire(node.kafka_addr) as connection:
        yield connection


def batch(count: int = 1, value_bytes: int = 10) -> bytes:
    now = int(time.time() * 1000)
    return build_batch([Record(offset=i, timestamp=now + i, key=b"k%d" % i,
                               value=bytes(value_bytes), headers=[("h", b"v")])
                        for i in range(count)])


def produce(wire: KafkaWire, topic: str, partition: int, records: bytes):
    response = wire.request(0, PRODUCE_V, produce_body(topic, partition, records))
    (topic_response,) = response.responses
    (partition_response,) = topic_response.partition_responses
    return partition_response


def fetch(wire: KafkaWire, topic: str, partition: int, offset: int):
    response = wire.request(1, FETCH_V, fetch_body(topic, partition, offset))
    assert response.error_code == 0
    (partition_data,) = response.responses[0].partitions
    return partition_data


def metadata_error(wire: KafkaWire, topic: str, auto_create: bool) -> int:
    mod = messages.module("MetadataRequest")
    body = messages.MetadataRequest(topics=[mod.MetadataRequestTopic(name=topic)],
                                    allow_auto_topic_creation=auto_create)
    (result,) = wire.request(3, METADATA_V, body).topics
    return result.error_code


def list_offsets_error(wire: KafkaWire, topic: str, partition: int) -> int:
    mod = messages.module("ListOffsetsRequest")
    body = messages.ListOffsetsRequest(replica_id=-1, topics=[mod.ListOffsetsTopic(
        name=topic, partitions=[mod.ListOffsetsPartition(partition_index=partition,
                                                         timestamp=-1)])])
    (result,) = wire.request(2, LIST_OFFSETS_V, body).topics[0].partitions
    return result.error_code


def test_unknown_topic_or_partition(wire):
    topic = unique_topic("known")
    assert create_topic(wire, topic, partitions=1) == 0
    assert produce(wire, topic, 5, batch()).error_code == UNKNOWN_TOPIC_OR_PARTITION
    assert fetch(wire, topic, 5, 0).error_code == UNKNOWN_TOPIC_OR_PARTITION
    assert list_offsets_error(wire, topic, 5) == UNKNOWN_TOPIC_OR_PARTITION
    missing = unique_topic("missing")
    assert fetch(wire, missing, 0, 0).error_code == UNKNOWN_TOPIC_OR_PARTITION
    assert list_offsets_error(wire, missing, 0) == UNKNOWN_TOPIC_OR_PARTITION
    assert metadata_error(wire, missing, auto_create=False) == UNKNOWN_TOPIC_OR_PARTITION
    assert metadata_error(wire, missing, auto_create=False) == UNKNOWN_TOPIC_OR_PARTITION


def test_message_too_large(wire, node):
    topic = unique_topic("small")
    assert create_topic(wire, topic, configs={"max.message.bytes": "1024"}) == 0
    result = produce(wire, topic, 0, batch(value_bytes=2000))
    assert result.error_code == MESSAGE_TOO_LARGE
    assert produce(wire, topic, 0, batch(value_bytes=100)).error_code == 0
    assert fetch(wire, topic, 0, 0).high_watermark == 1

    from confluent_kafka import KafkaError, Producer

    errors = []
    producer = Producer({"bootstrap.servers": node.kafka_addr, "message.timeout.ms": 10_000})
    producer.produce(topic, bytes(4000), on_delivery=lambda err, msg: errors.append(err))
    producer.flush(CLIENT_TIMEOUT_S)
    assert [e.code() for e in errors] == [KafkaError.MSG_SIZE_TOO_LARGE]


def test_corrupt_message(wire):
    topic = unique_topic("crc")
    assert create_topic(wire, topic) == 0
    records = bytearray(batch(count=3))
    records[-1] ^= 0x01                          # the last record's payload: the CRC fails
    assert produce(wire, topic, 0, bytes(records)).error_code == CORRUPT_MESSAGE
    truncated = batch(count=3)[:-5]              # a batch cut short
    assert produce(wire, topic, 0, truncated).error_code == CORRUPT_MESSAGE
    assert fetch(wire, topic, 0, 0).high_watermark == 0
    assert produce(wire, topic, 0, batch(count=3)).error_code == 0


def test_invalid_topic(wire):
    for name in ("bad/name", "spaces are bad", "x" * 250, "."):
        assert create_topic(wire, name) == INVALID_TOPIC_EXCEPTION, name
    assert produce(wire, "bad topic!", 0, batch()).error_code == INVALID_TOPIC_EXCEPTION
    assert metadata_error(wire, "bad topic!", auto_create=True) == INVALID_TOPIC_EXCEPTION


def test_offset_out_of_range_on_fetch(wire):
    topic = unique_topic("range")
    assert create_topic(wire, topic) == 0
    assert produce(wire, topic, 0, batch(count=3)).error_code == 0
    assert fetch(wire, topic, 0, 0).error_code == 0
    assert fetch(wire, topic, 0, 3).error_code == 0          # the end: empty, not an error
    assert fetch(wire, topic, 0, 100).error_code == OFFSET_OUT_OF_RANGE
    assert fetch(wire, topic, 0, -7).error_code == OFFSET_OUT_OF_RANGE


def test_api_versions_too_high_gets_unsupported_version_and_the_list(wire):
    client_id = b"future-client"
    frame = struct.pack(">hhih", 18, 99, 4242, len(client_id)) + client_id + b"\x00" * 8
    wire.send_raw(frame)
    header, body, _ = decode_response(wire.read_frame(), 18, 0)
    assert header.correlation_id == 4242
    assert body.error_code == UNSUPPORTED_VERSION
    versions = {k.api_key: (k.min_version, k.max_version) for k in body.api_keys}
    assert {0, 1, 3, 18} <= set(versions)
    # the client retries at a version from the list, on the same connection
    retried = wire.request(18, versions[18][1], messages.ApiVersionsRequest(
        client_software_name="future-client", client_software_version="1"))
    assert retried.error_code == 0


def test_request_over_max_bytes_closes_only_that_connection(node):
    topic = unique_topic("big")
    with KafkaWire(node.kafka_addr) as bystander, KafkaWire(node.kafka_addr) as offender:
        assert create_topic(bystander, topic) == 0
        oversize = batch(value_bytes=REQUEST_MAX_BYTES)
        offender.send(0, PRODUCE_V, produce_body(topic, 0, oversize))
        assert offender.closed_by_peer(), "the broker kept an oversize request's connection"
        assert produce(bystander, topic, 0, batch()).error_code == 0
        assert fetch(bystander, topic, 0, 0).high_watermark == 1
    with KafkaWire(node.kafka_addr) as liar:        # a size prefix alone is enough to refuse
        liar.sock.sendall(struct.pack(">i", REQUEST_MAX_BYTES + 1) + b"\x00\x12\x00\x03")
        assert liar.closed_by_peer()
    with KafkaWire(node.kafka_addr) as later:
        assert later.request(18, 3, messages.ApiVersionsRequest()).error_code == 0
    assert node.process.poll() is None


def test_create_topics_refuses_duplicate_names_and_validate_only_creates_nothing(wire):
    mod = messages.module("CreateTopicsRequest")
    twice, checked = unique_topic("twice"), unique_topic("checked")
    body = messages.CreateTopicsRequest(timeout_ms=10_000, topics=[
        mod.CreatableTopic(name=twice, num_partitions=1, replication_factor=1),
        mod.CreatableTopic(name=twice, num_partitions=3, replication_factor=1)])
    assert [(t.name, t.error_code) for t in wire.request(19, 5, body).topics] == [
        (twice, INVALID_REQUEST)]
    body = messages.CreateTopicsRequest(timeout_ms=10_000, validate_only=True, topics=[
        mod.CreatableTopic(name=checked, num_partitions=2, replication_factor=1, configs=[
            mod.CreatableTopicConfig(name="retention.ms", value="1234")])])
    (result,) = wire.request(19, 5, body).topics
    assert (result.error_code, result.num_partitions) == (0, 2)
    configs = {c.name: (c.value, c.config_source) for c in result.configs}
    assert configs["retention.ms"] == ("1234", 1) and configs["segment.ms"][1] == 5
    for name in (twice, checked):
        assert metadata_error(wire, name, auto_create=False) == UNKNOWN_TOPIC_OR_PARTITION


def test_acks_1_answers_on_append_whatever_the_timeout(wire):
    """timeout_ms bounds the wait for acks=all only: acks=1 with timeout_ms=0 once got
    REQUEST_TIMED_OUT now and then for records that were appended (a retry duplicates them)."""
    topic = unique_topic("acks1")
    assert create_topic(wire, topic, 2) == 0
    codes = [wire.request(0, PRODUCE_V, produce_body(topic, i % 2, batch(), acks=1,
                                                     timeout_ms=0))
             .responses[0].partition_responses[0].error_code for i in range(100)]
    assert codes == [0] * 100
    # Consumers see committed (fsynced) data only; a waiting fetch makes the tail sync now.
    waited = [wire.request(1, FETCH_V, fetch_body(topic, p, 49, max_wait_ms=5000))
              .responses[0].partitions[0].high_watermark for p in (0, 1)]
    assert waited == [50, 50]
