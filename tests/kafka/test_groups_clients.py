"""Consumer groups end to end: real clients (confluent-kafka, kafka-python, aiokafka) against a
2-shard broker running the group coordinator, over loopback. Members share partitions, take
over when one leaves, keep their assignment across a static member's restart, and resume from
offsets committed before the broker restarted. Every wait is bounded."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from panda.services.launcher import DEFAULT_SERVICES

from .conftest import CLIENT_TIMEOUT_S, unique_topic

GROUPS_SERVICE = "panda.services.kafka.groups:GroupCoordinator"
GROUPS_ENV = {"PANDA_SERVICES": ",".join(dict.fromkeys([*DEFAULT_SERVICES, GROUPS_SERVICE]))}
SESSION_MS = 6_000
HEARTBEAT_MS = 300
KAFKA_PYTHON_SCHEMAS = pytest.mark.filterwarnings(
    "ignore:(read|open)_text is deprecated:DeprecationWarning")


@pytest.fixture
def group_broker(broker_node) -> Callable:
    """`group_broker(workdir=None)`: a ready broker node that coordinates groups."""
    def start(workdir=None):
        return broker_node(env=GROUPS_ENV, workdir=workdir)

    return start


def wait_for(check: Callable[[], bool], timeout_s: float = CLIENT_TIMEOUT_S,
             step: Callable[[], None] = lambda: None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        step()
        if check():
            return True
    return check()


# --- confluent-kafka -----------------------------------------------------------------------


def ck_topic(node, partitions: int) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = unique_topic("grp")
    admin = AdminClient({"bootstrap.servers": node.kafka_addr})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(CLIENT_TIMEOUT_S)
    return topic


def ck_produce(node, topic: str, partitions: int, per_partition: int, start: int = 0) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": node.kafka_addr, "linger.ms": 5})
    for i in range(start, start + per_partition):
        for p in range(partitions):
            producer.produce(topic, f"{p}:{i}".encode(), partition=p)
    assert producer.flush(CLIENT_TIMEOUT_S) == 0


def ck_consumer(node, group: str, **extra):
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": node.kafka_addr, "group.id": group,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": HEARTBEAT_MS,
                     "fetch.wait.max.ms": 100, **extra})


def at_end(consumer, end: int) -> bool:
    """The consumer has an assignment and its position on each partition is `end`."""
    assigned = consumer.assignment()
    return bool(assigned) and all(tp.offset == end for tp in consumer.position(assigned))


class Polled:
    """Messages each consumer received, polled round-robin."""

    def __init__(self, consumers: list) -> None:
        self.consumers = consumers
        self.values: list[list[bytes]] = [[] for _ in consumers]

    def poll(self) -> None:
        for i, consumer in enumerate(self.consumers):
            msg = consumer.poll(0.05)
            if msg is not None and msg.error() is None:
                self.values[i].append(msg.value())

    def total(self) -> int:
        return sum(map(len, self.values))

    def assignments(self) -> list[set[int]]:
        return [{tp.partition for tp in c.assignment()} for c in self.consumers]


def test_three_confluent_members_share_six_partitions_and_take_over_a_leaver(group_broker):
    node = group_broker()
    topic = ck_topic(node, 6)
    ck_produce(node, topic, 6, 10)
    consumers = [ck_consumer(node, "three") for _ in range(3)]
    for c in consumers:
        c.subscribe([topic])
    polled = Polled(consumers)
    try:
        # the group settles with two partitions each, and each member reads its two to the end
        assert wait_for(lambda: sorted(map(len, polled.assignments())) == [2, 2, 2]
                        and all(at_end(c, 10) for c in consumers), step=polled.poll)
        assert set().union(*polled.assignments()) == set(range(6))
        assert {v for vs in polled.values for v in vs} == {
            f"{p}:{i}".encode() for p in range(6) for i in range(10)}
        for c in consumers:
            c.commit(asynchronous=False)

        consumers.pop().close()  # LeaveGroup: the other two take over its partitions
        polled.consumers, polled.values = consumers, [[], []]
        assert wait_for(lambda: sorted(map(len, polled.assignments())) == [3, 3],
                        step=polled.poll), polled.assignments()
        ck_produce(node, topic, 6, 5, start=10)
        assert wait_for(lambda: polled.total() >= 30, step=polled.poll), polled.total()
        assert sorted(v for vs in polled.values for v in vs) == sorted(
            f"{p}:{i}".encode() for p in range(6) for i in range(10, 15))
    finally:
        for c in consumers:
            c.close()


def test_committed_offsets_are_honoured_after_a_broker_restart(group_broker, tmp_path):
    from confluent_kafka import TopicPartition

    workdir = tmp_path / "restarted"
    node = group_broker(workdir=workdir)
    topic = ck_topic(node, 2)
    ck_produce(node, topic, 2, 5)
    consumer = ck_consumer(node, "durable")
    consumer.subscribe([topic])
    polled = Polled([consumer])
    assert wait_for(lambda: polled.total() >= 10, step=polled.poll), polled.total()
    committed = consumer.commit(asynchronous=False)
    assert sorted((tp.partition, tp.offset) for tp in committed) == [(0, 5), (1, 5)]
    consumer.close()
    assert node.stop() == 0

    node = group_broker(workdir=workdir)
    ck_produce(node, topic, 2, 3, start=5)
    consumer = ck_consumer(node, "durable")
    try:
        offsets = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)],
                                     timeout=CLIENT_TIMEOUT_S)
        assert [tp.offset for tp in offsets] == [5, 5]
        consumer.subscribe([topic])
        polled = Polled([consumer])
        assert wait_for(lambda: polled.total() >= 6, step=polled.poll), polled.total()
        assert sorted(polled.values[0]) == sorted(
            f"{p}:{i}".encode() for p in range(2) for i in range(5, 8))
    finally:
        consumer.close()


def test_static_member_restart_keeps_its_partitions_without_a_rebalance(group_broker):
    from confluent_kafka.admin import AdminClient

    node = group_broker()
    topic = ck_topic(node, 4)
    ck_produce(node, topic, 4, 2)
    consumers = [ck_consumer(node, "static", **{"group.instance.id": f"inst-{i}"})
                 for i in range(2)]
    for c in consumers:
        c.subscribe([topic])
    polled = Polled(consumers)
    try:
        admin = AdminClient({"bootstrap.servers": node.kafka_addr})
        members = ("STABLE", [("inst-0", 2), ("inst-1", 2)])
        assert wait_for(lambda: sorted(map(len, polled.assignments())) == [2, 2]
                        and describe(admin, "static") == members, step=polled.poll)
        before = polled.assignments()
        rebalances = rebalances_total(node)
        assert rebalances >= 1  # the metric is there, and counted the joins so far
        consumers[1].close()  # a static member does not leave the group on close
        consumers[1] = ck_consumer(node, "static", **{"group.instance.id": "inst-1"})
        consumers[1].subscribe([topic])
        assert wait_for(lambda: polled.assignments() == before, step=polled.poll)
        assert describe(admin, "static") == members
        assert rebalances_total(node) == rebalances
    finally:
        for c in consumers:
            c.close()


def rebalances_total(node) -> int:
    """Rebalances started, over every shard (the coordinator's metric)."""
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in node.metrics().splitlines()
               if line.startswith("panda_kafka_group_rebalances_total{"))


def describe(admin, group: str) -> tuple[str, list[tuple[str | None, int]]]:
    """(state, [(group.instance.id, partitions assigned)]) of a group."""
    found = admin.describe_consumer_groups([group])[group].result(CLIENT_TIMEOUT_S)
    return found.state.name, sorted(
        (m.group_instance_id, len(m.assignment.topic_partitions)) for m in found.members)


def test_confluent_admin_lists_describes_and_deletes_groups(group_broker):
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient

    node = group_broker()
    topic = ck_topic(node, 2)
    ck_produce(node, topic, 2, 1)
    consumer = ck_consumer(node, "admin-g")
    consumer.subscribe([topic])
    polled = Polled([consumer])
    assert wait_for(lambda: polled.total() >= 2, step=polled.poll)
    consumer.commit(asynchronous=False)
    admin = AdminClient({"bootstrap.servers": node.kafka_addr})
    listed = admin.list_consumer_groups().result(CLIENT_TIMEOUT_S)
    assert "admin-g" in {g.group_id for g in listed.valid}
    assert describe(admin, "admin-g") == ("STABLE", [(None, 2)])
    with pytest.raises(KafkaException, match="NON_EMPTY_GROUP"):
        admin.delete_consumer_groups(["admin-g"])["admin-g"].result(CLIENT_TIMEOUT_S)
    consumer.close()
    request = ConsumerGroupTopicPartitions("admin-g", [TopicPartition(topic, 0),
                                                       TopicPartition(topic, 1)])
    offsets = admin.list_consumer_group_offsets([request])["admin-g"].result(CLIENT_TIMEOUT_S)
    assert [tp.offset for tp in offsets.topic_partitions] == [1, 1]
    admin.delete_consumer_groups(["admin-g"])["admin-g"].result(CLIENT_TIMEOUT_S)
    listed = admin.list_consumer_groups().result(CLIENT_TIMEOUT_S)
    assert "admin-g" not in {g.group_id for g in listed.valid}


# --- kafka-python --------------------------------------------------------------------------


@KAFKA_PYTHON_SCHEMAS
def test_kafka_python_consumers_share_a_topic_and_commit(group_broker):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import CommitFailedError, RebalanceInProgressError

    node = group_broker()
    topic = ck_topic(node, 4)
    ck_produce(node, topic, 4, 5)
    # distinct client ids: kafka-python 3 shares one I/O thread per client id in a process
    consumers = [KafkaConsumer(bootstrap_servers=node.kafka_addr, group_id="kp-g",
                               client_id=f"kp-{i}",
                               auto_offset_reset="earliest", enable_auto_commit=False,
                               session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS,
                               fetch_max_wait_ms=100) for i in range(2)]
    got: list[list[bytes]] = [[], []]
    done = [False, False]  # caught up with two partitions, and committed
    stop = threading.Event()

    # One application thread per consumer, as in real use, polling with a long timeout:
    # kafka-python 3.0.12 can drop a join that completes just as a short poll() times out
    # (the member then never takes its assignment nor heartbeats, and is evicted).
    def run(i: int) -> None:
        consumer = consumers[i]
        assert consumer.partitions_for_topic(topic) == {0, 1, 2, 3}  # metadata before joining
        consumer.subscribe([topic])
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=1000).values():
                got[i].extend(r.value for r in records)
            assigned = consumer.assignment()
            if len(assigned) == 2 and all(consumer.position(tp) == 5 for tp in assigned):
                try:
                    consumer.commit()
                    done[i] = True
                except (RebalanceInProgressError, CommitFailedError):
                    done[i] = False  # a rebalance is settling: poll on, commit again
            else:
                done[i] = False

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    try:
        assert wait_for(lambda: all(done), step=lambda: time.sleep(0.05)), got
    finally:
        stop.set()
        for t in threads:
            t.join(CLIENT_TIMEOUT_S)
    try:
        assert {v for vs in got for v in vs} == {
            f"{p}:{i}".encode() for p in range(4) for i in range(5)}
        committed = [consumers[0].committed(TopicPartition(topic, p)) for p in range(4)]
        assert committed == [5, 5, 5, 5]
    finally:
        for c in consumers:
            c.close()


# --- aiokafka ------------------------------------------------------------------------------


def test_aiokafka_consumers_share_a_topic_and_commit(group_broker):
    from aiokafka import AIOKafkaConsumer, TopicPartition

    node = group_broker()
    topic = ck_topic(node, 4)
    ck_produce(node, topic, 4, 5)

    async def main() -> tuple[list[list[bytes]], list[int]]:
        consumers = [AIOKafkaConsumer(topic, bootstrap_servers=node.kafka_addr, group_id="aio-g",
                                      auto_offset_reset="earliest", enable_auto_commit=False,
                                      session_timeout_ms=SESSION_MS,
                                      heartbeat_interval_ms=HEARTBEAT_MS, fetch_max_wait_ms=100)
                     for _ in range(2)]
        for c in consumers:
            await c.start()
        got: list[list[bytes]] = [[], []]
        try:
            deadline = time.monotonic() + CLIENT_TIMEOUT_S
            while time.monotonic() < deadline and not (sum(map(len, got)) >= 20 and all(
                    len(c.assignment()) == 2 for c in consumers)):
                for i, c in enumerate(consumers):
                    batches = await c.getmany(timeout_ms=50)
                    got[i].extend(r.value for records in batches.values() for r in records)
            for c in consumers:
                await c.commit()
            committed = [await consumers[0].committed(TopicPartition(topic, p))
                         for p in range(4)]
        finally:
            for c in consumers:
                await c.stop()
        return got, committed

    got, committed = asyncio.run(main())
    assert all(got) and sorted(v for vs in got for v in vs) == sorted(
        f"{p}:{i}".encode() for p in range(4) for i in range(5))
    assert committed == [5, 5, 5, 5]


CRASHING_MEMBER = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "session.timeout.ms": 3000, "heartbeat.interval.ms": 300,
              "auto.offset.reset": "earliest"})
c.subscribe([sys.argv[3]])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    c.poll(0.1)
    if c.assignment():
        print("assigned", flush=True)
"""


def test_a_crashed_member_is_evicted_after_its_session_timeout(group_broker):
    """SIGKILL a member (no LeaveGroup): its partitions move to the survivor once the
    coordinator's session timer fires."""
    import subprocess
    import sys

    node = group_broker()
    topic = ck_topic(node, 4)
    member = subprocess.Popen([sys.executable, "-c", CRASHING_MEMBER, node.kafka_addr, "crash",
                               topic], stdout=subprocess.PIPE, text=True)
    survivor = ck_consumer(node, "crash", **{"session.timeout.ms": 3000})
    polled = Polled([survivor])
    try:
        assert member.stdout is not None and member.stdout.readline() == "assigned\n"
        survivor.subscribe([topic])  # joins once the member holds every partition
        assert wait_for(lambda: len(polled.assignments()[0]) == 2, step=polled.poll)
        member.kill()
        member.wait(10)
        started = time.monotonic()
        assert wait_for(lambda: len(polled.assignments()[0]) == 4, step=polled.poll)
        assert 2.0 < time.monotonic() - started < 12.0  # the session timeout, not sooner
    finally:
        if member.poll() is None:
            member.kill()
            member.wait(10)
        if member.stdout is not None:
            member.stdout.close()
        survivor.close()
