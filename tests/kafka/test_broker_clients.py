"""Real Kafka clients against a 2-shard broker: confluent-kafka, kafka-python and aiokafka each
produce and consume keys, headers and timestamps under every compression codec (byte-exact
round trip), administer topics (create, validate_only, describe/alter configs, partitions,
delete, and the Kafka errors for a bad config and an existing topic), and list offsets by time.
"""

from __future__ import annotations

import asyncio
import time

import cramjam
import pytest

from .conftest import CLIENT_TIMEOUT_S, unique_topic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
MESSAGES = 24
PARTITIONS = 2
TIMEOUT_MS = int(CLIENT_TIMEOUT_S * 1000)
INVALID_CONFIG, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS = 40, 36, 37
# kafka-python 3 loads its protocol schemas lazily with importlib.resources.read_text/open_text,
# deprecated on Python 3.11; only that warning is tolerated, only in its tests.
KAFKA_PYTHON_SCHEMAS = pytest.mark.filterwarnings(
    "ignore:(read|open)_text is deprecated:DeprecationWarning")


def sample_messages(count: int = MESSAGES) -> list[dict]:
    """Messages that exercise the record format: binary keys and values (a None key, an
    empty value, every byte value), repeated and empty headers, distinct timestamps."""
    base_ts = int(time.time() * 1000) - 3_600_000       # an hour ago: not the broker's clock
    out = []
    for i in range(count):
        key = None if i == 3 else f"key-{i}".encode() + bytes([0, 255, i])
        value = b"" if i == 5 else bytes(range(256)) * (1 + i % 3) + f"#{i}".encode()
        headers = [("h", f"x{i}".encode()), ("h", b""), ("bin", bytes([i, 0, 128]))]
        out.append({"partition": i % PARTITIONS, "key": key, "value": value,
                    "headers": headers, "timestamp": base_ts + 7 * i})
    return out


def by_partition(messages: list[dict]) -> dict[int, list[tuple]]:
    """{partition: [(key, value, headers, timestamp), ...]} in log order."""
    out: dict[int, list[tuple]] = {}
    for m in messages:
        out.setdefault(m["partition"], []).append(
            (m["key"], m["value"], [tuple(h) for h in m["headers"]], m["timestamp"]))
    return out


# -- confluent-kafka ------------------------------------------------------------------------

def _ck_admin(node):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": node.kafka_addr})


def _ck_create(node, topic: str, partitions: int = PARTITIONS, configs=None) -> None:
    from confluent_kafka.admin import NewTopic

    admin = _ck_admin(node)          # the handle must outlive its futures
    futures = admin.create_topics([NewTopic(topic, partitions, 1, config=configs or {})],
                                  operation_timeout=10, request_timeout=10)
    futures[topic].result(CLIENT_TIMEOUT_S)


def _ck_produce(node, topic: str, messages: list[dict], codec: str = "none",
                one_batch_each: bool = False) -> list:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": node.kafka_addr, "acks": "all",
                         "compression.type": codec, "linger.ms": 5,
                         "message.timeout.ms": TIMEOUT_MS})
    reports: list = []
    for m in messages:
        producer.produce(topic, m["value"], m["key"], partition=m["partition"],
                         timestamp=m["timestamp"], headers=m["headers"],
                         on_delivery=lambda err, msg: reports.append((err, msg.offset())))
        if one_batch_each:
            producer.flush(CLIENT_TIMEOUT_S)
    assert producer.flush(CLIENT_TIMEOUT_S) == 0
    assert [err for err, _ in reports if err is not None] == []
    return reports


def _ck_consume(node, topic: str, count: int, partitions: int = PARTITIONS) -> dict[int, list]:
    from confluent_kafka import TIMESTAMP_CREATE_TIME, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": node.kafka_addr, "group.id": "unused",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got: dict[int, list] = {}
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    try:
        while sum(map(len, got.values())) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            kind, ts = msg.timestamp()
            assert kind == TIMESTAMP_CREATE_TIME
            got.setdefault(msg.partition(), []).append(
                (msg.key(), msg.value(), list(msg.headers() or []), ts))
    finally:
        consumer.close()
    return got


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_kafka_roundtrip(module_broker, codec):
    topic = unique_topic(f"ck-{codec}")
    messages = sample_messages()
    _ck_create(module_broker, topic)
    _ck_produce(module_broker, topic, messages, codec)
    assert _ck_consume(module_broker, topic, len(messages)) == by_partition(messages)


def test_confluent_kafka_admin(module_broker):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        NewTopic,
        ResourceType,
    )

    admin = _ck_admin(module_broker)
    topic = unique_topic("ck-admin")
    admin.create_topics([NewTopic(topic, 2, 1)], validate_only=True)[topic].result(10)
    assert topic not in admin.list_topics(timeout=10).topics

    _ck_create(module_broker, topic, 2, {"retention.ms": "3600000"})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "delete" and configs["cleanup.policy"].is_default

    altered = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([altered])[altered].result(10)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == "7200000"

    for bad, expected in (([NewTopic(topic, 1, 1)], TOPIC_ALREADY_EXISTS),
                          ([NewTopic(topic + "-bad", 1, 1, config={"no.such.config": "1"})],
                           INVALID_CONFIG)):
        with pytest.raises(KafkaException) as raised:
            admin.create_topics(bad)[bad[0].topic].result(10)
        assert raised.value.args[0].code() == expected
    assert topic + "-bad" not in admin.list_topics(timeout=10).topics

    bad_value = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as raised:
        admin.incremental_alter_configs([bad_value])[bad_value].result(10)
    assert raised.value.args[0].code() == INVALID_CONFIG

    admin.create_partitions([NewPartitions(topic, 5)], validate_only=True)[topic].result(10)
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 2
    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(10)
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 5
    with pytest.raises(KafkaException) as raised:
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(10)
    assert raised.value.args[0].code() == INVALID_PARTITIONS

    admin.delete_topics([topic], operation_timeout=10)[topic].result(10)
    assert topic not in admin.list_topics(timeout=10).topics


def test_confluent_kafka_list_offsets_by_time(module_broker):
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    topic = unique_topic("ck-times")
    messages = [dict(m, partition=0) for m in sample_messages(10)]
    _ck_create(module_broker, topic, 1)
    _ck_produce(module_broker, topic, messages, one_batch_each=True)
    admin = _ck_admin(module_broker)
    tp = TopicPartition(topic, 0)
    middle = messages[4]["timestamp"] - 1                         # between messages 3 and 4

    def ask(spec) -> tuple[int, int]:
        info = admin.list_offsets({tp: spec}, request_timeout=10)[tp].result(10)
        return info.offset, info.timestamp

    assert ask(OffsetSpec.earliest())[0] == 0
    assert ask(OffsetSpec.latest())[0] == 10
    assert ask(OffsetSpec.for_timestamp(middle)) == (4, messages[4]["timestamp"])
    assert ask(OffsetSpec.for_timestamp(messages[-1]["timestamp"] + 1))[0] == -1


def test_list_offsets_by_time_inside_a_compressed_batch(module_broker):
    """The time index finds a batch; the answer is the record (and its timestamp), also for
    the newest timestamp (OffsetSpec.max_timestamp, ListOffsets -3)."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    topic = unique_topic("ck-times-batch")
    messages = [dict(m, partition=0) for m in sample_messages(10)]
    messages[6]["timestamp"] += 60_000                  # the newest record sits in the middle
    _ck_create(module_broker, topic, 1)
    admin = _ck_admin(module_broker)
    tp = TopicPartition(topic, 0)

    def ask(spec) -> tuple[int, int]:
        info = admin.list_offsets({tp: spec}, request_timeout=10)[tp].result(10)
        return info.offset, info.timestamp

    assert ask(OffsetSpec.max_timestamp()) == (-1, -1)                  # empty
    _ck_produce(module_broker, topic, messages, "lz4")
    for i in (0, 4):
        assert ask(OffsetSpec.for_timestamp(messages[i]["timestamp"] - 1)) == (
            i, messages[i]["timestamp"])
    # the first record at or after the time, in log order: 6 is newer than 7, 8 and 9
    assert ask(OffsetSpec.for_timestamp(messages[9]["timestamp"])) == (6, messages[6]["timestamp"])
    assert ask(OffsetSpec.max_timestamp()) == (6, messages[6]["timestamp"])


def test_log_append_time_topic_stamps_the_broker_clock(module_broker):
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, TopicPartition

    topic = unique_topic("ck-append-time")
    _ck_create(module_broker, topic, 1, {"message.timestamp.type": "LogAppendTime"})
    messages = [dict(m, partition=0) for m in sample_messages(3)]     # an hour-old CreateTime
    before = int(time.time() * 1000)
    _ck_produce(module_broker, topic, messages, "zstd")
    after = int(time.time() * 1000)
    consumer = Consumer({"bootstrap.servers": module_broker.kafka_addr, "group.id": "unused",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    try:
        while len(got) < len(messages) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None:
                assert msg.error() is None, msg.error()
                got.append((msg.value(), *msg.timestamp()))
    finally:
        consumer.close()
    assert [v for v, _, _ in got] == [m["value"] for m in messages]
    assert all(kind == TIMESTAMP_LOG_APPEND_TIME and before <= ts <= after
               for _, kind, ts in got), got


# -- kafka-python --------------------------------------------------------------------------

@pytest.fixture
def kafka_python_codecs(monkeypatch):
    """kafka-python compresses with python-snappy, lz4 and zstandard, which this project does
    not install; give it the same codecs from cramjam (a project dependency)."""
    import kafka.record.default_records as records
    from kafka import codec

    class Snappy:
        @staticmethod
        def compress(data):
            return bytes(cramjam.snappy.compress_raw(bytes(data)))

        @staticmethod
        def decompress(data):
            return bytes(cramjam.snappy.decompress_raw(bytes(data)))

    def lz4_encode(data):
        compressor = cramjam.lz4.Compressor(content_checksum=False, block_linked=False)
        compressor.compress(bytes(data))
        return bytes(compressor.finish())

    monkeypatch.setattr(codec, "snappy", Snappy)
    monkeypatch.setattr(codec, "lz4", object())
    monkeypatch.setattr(codec, "zstd", object())
    monkeypatch.setattr(records, "lz4_encode", lz4_encode)
    monkeypatch.setattr(records, "lz4_decode", lambda d: bytes(cramjam.lz4.decompress(bytes(d))))
    monkeypatch.setattr(records, "zstd_encode", lambda d: bytes(cramjam.zstd.compress(bytes(d))))
    monkeypatch.setattr(records, "zstd_decode",
                        lambda d: bytes(cramjam.zstd.decompress(bytes(d))))


def _kp_admin(node):
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=node.kafka_addr, request_timeout_ms=TIMEOUT_MS)


def _kp_produce(node, topic: str, messages: list[dict], codec: str | None = None,
                one_batch_each: bool = False) -> None:
    from kafka import KafkaProducer

    # kafka-python 3 is idempotent by default (InitProducerId, producer id and sequences).
    producer = KafkaProducer(bootstrap_servers=node.kafka_addr, acks="all",
                             compression_type=codec, linger_ms=5,
                             request_timeout_ms=TIMEOUT_MS)
    try:
        for m in messages:
            future = producer.send(topic, m["value"], m["key"], headers=m["headers"],
                                   partition=m["partition"], timestamp_ms=m["timestamp"])
            if one_batch_each:
                future.get(CLIENT_TIMEOUT_S)
        producer.flush(CLIENT_TIMEOUT_S)
    finally:
        producer.close(CLIENT_TIMEOUT_S)


def _kp_consumer(node):
    from kafka import KafkaConsumer

    return KafkaConsumer(bootstrap_servers=node.kafka_addr, group_id=None,
                         enable_auto_commit=False, fetch_max_wait_ms=100,
                         request_timeout_ms=TIMEOUT_MS)


def _kp_consume(node, topic: str, count: int) -> dict[int, list]:
    from kafka import TopicPartition

    consumer = _kp_consumer(node)
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    got: dict[int, list] = {}
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    try:
        while sum(map(len, got.values())) < count and time.monotonic() < deadline:
            for records in consumer.poll(200).values():
                for r in records:
                    assert r.timestamp_type == 0                 # CreateTime
                    got.setdefault(r.partition, []).append(
                        (r.key, r.value, list(r.headers), r.timestamp))
    finally:
        consumer.close()
    return got


@pytest.mark.parametrize("codec", CODECS)
@KAFKA_PYTHON_SCHEMAS
def test_kafka_python_roundtrip(module_broker, kafka_python_codecs, codec):
    from kafka.admin import NewTopic

    topic = unique_topic(f"kp-{codec}")
    messages = sample_messages()
    admin = _kp_admin(module_broker)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    finally:
        admin.close()
    _kp_produce(module_broker, topic, messages, None if codec == "none" else codec)
    assert _kp_consume(module_broker, topic, len(messages)) == by_partition(messages)


@KAFKA_PYTHON_SCHEMAS
def test_kafka_python_admin(module_broker):
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
    from kafka.errors import InvalidConfigurationError, TopicAlreadyExistsError

    admin = _kp_admin(module_broker)
    topic = unique_topic("kp-admin")
    try:
        admin.create_topics([NewTopic(topic, 2, 1)], validate_only=True)
        assert topic not in admin.list_topics()
        admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})])

        def retention() -> str:
            described = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs=["retention.ms"])])
            return described["topic"][topic]["retention.ms"]["value"]

        assert retention() == "3600000"
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                            configs={"retention.ms": "7200000"})])
        assert retention() == "7200000"

        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, 1, 1)])
        with pytest.raises(InvalidConfigurationError):
            admin.create_topics([NewTopic(topic + "-bad", 1, 1,
                                          topic_configs={"no.such.config": "1"})])
        assert topic + "-bad" not in admin.list_topics()

        admin.create_partitions({topic: NewPartitions(4)})
        assert len(admin.describe_topics([topic])[0]["partitions"]) == 4
        admin.delete_topics([topic])
        assert topic not in admin.list_topics()
    finally:
        admin.close()


@KAFKA_PYTHON_SCHEMAS
def test_kafka_python_list_offsets_by_time(module_broker):
    from kafka import TopicPartition
    from kafka.admin import NewTopic

    topic = unique_topic("kp-times")
    messages = [dict(m, partition=0) for m in sample_messages(10)]
    admin = _kp_admin(module_broker)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    _kp_produce(module_broker, topic, messages, one_batch_each=True)
    consumer = _kp_consumer(module_broker)
    tp = TopicPartition(topic, 0)
    try:
        assert consumer.beginning_offsets([tp]) == {tp: 0}
        assert consumer.end_offsets([tp]) == {tp: 10}
        found = consumer.offsets_for_times({tp: messages[4]["timestamp"] - 1})[tp]
        assert (found.offset, found.timestamp) == (4, messages[4]["timestamp"])
        assert consumer.offsets_for_times({tp: messages[-1]["timestamp"] + 1})[tp] is None
    finally:
        consumer.close()


# -- aiokafka ------------------------------------------------------------------------------

def _run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, CLIENT_TIMEOUT_S * 2))


async def _ak_admin(node):
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=node.kafka_addr, request_timeout_ms=TIMEOUT_MS)
    await admin.start()
    return admin


async def _ak_create(node, topic: str, partitions: int) -> None:
    from aiokafka.admin import NewTopic

    admin = await _ak_admin(node)
    try:
        response = await admin.create_topics([NewTopic(topic, partitions, 1)])
        assert [e[1] for e in response.topic_errors] == [0]
    finally:
        await admin.close()


async def _ak_produce(node, topic: str, messages: list[dict], codec: str | None = None,
                      one_batch_each: bool = False) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=node.kafka_addr, acks="all",
                                compression_type=codec, linger_ms=5,
                                request_timeout_ms=TIMEOUT_MS)
    await producer.start()
    try:
        pending = []
        for m in messages:
            future = await producer.send(topic, m["value"], m["key"], partition=m["partition"],
                                         timestamp_ms=m["timestamp"], headers=m["headers"])
            if one_batch_each:
                await future
            pending.append(future)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _ak_consumer(node):
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=node.kafka_addr, group_id=None,
                                enable_auto_commit=False, fetch_max_wait_ms=100,
                                request_timeout_ms=TIMEOUT_MS)
    await consumer.start()
    return consumer


async def _ak_consume(node, topic: str, count: int) -> dict[int, list]:
    from aiokafka import TopicPartition

    consumer = await _ak_consumer(node)
    got: dict[int, list] = {}
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while sum(map(len, got.values())) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    assert r.timestamp_type == 0                 # CreateTime
                    got.setdefault(r.partition, []).append(
                        (r.key, r.value, list(r.headers), r.timestamp))
    finally:
        await consumer.stop()
    return got


@pytest.mark.parametrize("codec", CODECS)
def test_aiokafka_roundtrip(module_broker, codec):
    topic = unique_topic(f"ak-{codec}")
    messages = sample_messages()

    async def scenario():
        await _ak_create(module_broker, topic, PARTITIONS)
        await _ak_produce(module_broker, topic, messages, None if codec == "none" else codec)
        return await _ak_consume(module_broker, topic, len(messages))

    assert _run(scenario()) == by_partition(messages)


def test_aiokafka_admin(module_broker):
    from aiokafka.admin import NewPartitions, NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    topic = unique_topic("ak-admin")

    async def scenario():
        admin = await _ak_admin(module_broker)
        try:
            await admin.create_topics([NewTopic(topic, 2, 1)], validate_only=True)
            assert topic not in await admin.list_topics()
            created = await admin.create_topics(
                [NewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})])
            assert [e[1] for e in created.topic_errors] == [0]

            async def retention() -> str:
                (response,) = await admin.describe_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, topic)])
                entries = {e[0]: e[1] for e in response.resources[0][4]}
                return entries["retention.ms"]

            assert await retention() == "3600000"
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                      configs={"retention.ms": "7200000"})])
            assert await retention() == "7200000"

            exists = await admin.create_topics([NewTopic(topic, 1, 1)])
            assert [e[1] for e in exists.topic_errors] == [TOPIC_ALREADY_EXISTS]
            bad = await admin.create_topics(
                [NewTopic(topic + "-bad", 1, 1, topic_configs={"no.such.config": "1"})])
            assert [e[1] for e in bad.topic_errors] == [INVALID_CONFIG]
            assert topic + "-bad" not in await admin.list_topics()

            await admin.create_partitions({topic: NewPartitions(3)})
            (described,) = await admin.describe_topics([topic])
            assert len(described["partitions"]) == 3
            await admin.delete_topics([topic])
            assert topic not in await admin.list_topics()
        finally:
            await admin.close()

    _run(scenario())


def test_aiokafka_list_offsets_by_time(module_broker):
    from aiokafka import TopicPartition

    topic = unique_topic("ak-times")
    messages = [dict(m, partition=0) for m in sample_messages(10)]

    async def scenario():
        await _ak_create(module_broker, topic, 1)
        await _ak_produce(module_broker, topic, messages, one_batch_each=True)
        consumer = await _ak_consumer(module_broker)
        tp = TopicPartition(topic, 0)
        try:
            assert await consumer.beginning_offsets([tp]) == {tp: 0}
            assert await consumer.end_offsets([tp]) == {tp: 10}
            found = (await consumer.offsets_for_times({tp: messages[4]["timestamp"] - 1}))[tp]
            assert (found.offset, found.timestamp) == (4, messages[4]["timestamp"])
            late = await consumer.offsets_for_times({tp: messages[-1]["timestamp"] + 1})
            assert late[tp] is None
        finally:
            await consumer.stop()

    _run(scenario())
