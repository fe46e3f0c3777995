"""Shared helpers of the Kafka broker tests: real `panda-runtime` nodes running the full
broker (the configured default services, whatever PANDA_SERVICES the environment carries),
module-scoped nodes for tests that leave the node running, and a raw Kafka connection for
exact frames. `wait_until` and `stop_quietly` come from panda.testing (re-exported here)."""

from __future__ import annotations

import shutil
import socket
import struct
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

import pytest

from panda.net.kafka import RequestHeader, decode_response, encode_request, messages
from panda.services.launcher import DEFAULT_SERVICES
from panda.testing import NodeProcess, stop_all
from panda.testing import stop_quietly as stop_quietly  # re-exported for the test modules
from panda.testing import wait_until as wait_until

# The runtime tests narrow PANDA_SERVICES to the admin service; a broker node runs the
# configured defaults (controller, partition manager, Kafka listener, and what joins them).
BROKER_ENV = {"PANDA_SERVICES": ",".join(DEFAULT_SERVICES)}
# A 2-core machine shared with the test process and the clients: no pinning, no busy-poll.
BROKER_ARGS = ("--overprovisioned",)
CLIENT_TIMEOUT_S = 20.0


def start_broker(workdir: Path, smp: int = 2, args=(), env=None) -> NodeProcess:
    """A ready node running the full broker, data under workdir/data. Restarting on the
    same workdir keeps the data; the previous run's log moves to node.log.<n> (the ready
    mark in an old log must not pass for the new node's)."""
    node = NodeProcess(workdir, smp, (), (*BROKER_ARGS, *args), {**BROKER_ENV, **(env or {})})
    if node.log_path.exists():
        runs = len(list(workdir.glob("node.log.*")))
        node.log_path.rename(workdir / f"node.log.{runs + 1}")
    return node.start()


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker_node(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Factory of broker nodes for one test: `broker_node(smp=2, args=[...])`."""
    nodes: list[NodeProcess] = []

    def start(smp: int = 2, args=(), env=None, workdir: Path | None = None) -> NodeProcess:
        node = start_broker(workdir or tmp_path / f"broker{len(nodes)}", smp, args, env)
        nodes.append(node)
        return node

    yield start
    stop_all(nodes)


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One 2-shard broker node for the whole module (for tests that don't kill it)."""
    node = start_broker(tmp_path_factory.mktemp("broker"))
    yield node
    stop_quietly(node)


@pytest.fixture(scope="session")
def kcat() -> str:
    path = shutil.which("kcat")
    if path is None:
        pytest.skip("kcat is not installed (`make test` installs it via `make system-deps`, "
                    "or: apt-get install -y kcat)")
    return path


class KafkaWire:
    """A raw Kafka connection for tests that need exact frames: encode with panda.net.kafka,
    send, read size-prefixed responses. Every read is bounded by `timeout_s`."""

    def __init__(self, addr: str, timeout_s: float = 10.0, client_id: str = "panda-tests"):
        host, _, port = addr.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.client_id = client_id
        self._correlation = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, api_key: int, version: int, body) -> int:
        """Encode and send one request; returns its correlation id."""
        self._correlation += 1
        header = RequestHeader(request_api_key=api_key, request_api_version=version,
                               correlation_id=self._correlation, client_id=self.client_id)
        self.sock.sendall(encode_request(header, body, frame=True))
        return self._correlation

    def send_raw(self, frame: bytes) -> None:
        """Send a frame body (without the size prefix) exactly as given."""
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)

    def read_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self._read_exactly(4))
        return self._read_exactly(size)

    def _read_exactly(self, count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError(f"closed after {len(data)} of {count} bytes")
            data += chunk
        return bytes(data)

    def request(self, api_key: int, version: int, body):
        """Send a request and return the decoded response body (checks the correlation)."""
        correlation = self.send(api_key, version, body)
        header, response, _ = decode_response(self.read_frame(), api_key, version)
        assert header.correlation_id == correlation
        return response

    def closed_by_peer(self, timeout_s: float = 5.0) -> bool:
        """True once the broker closes the connection (EOF or reset) within timeout_s."""
        self.sock.settimeout(timeout_s)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False


def produce_body(topic: str, partition: int, records: bytes, acks: int = -1,
                 timeout_ms: int = 10_000):
    """A ProduceRequest body for one partition."""
    mod = messages.module("ProduceRequest")
    return messages.ProduceRequest(acks=acks, timeout_ms=timeout_ms, topic_data=[
        mod.TopicProduceData(name=topic, partition_data=[
            mod.PartitionProduceData(index=partition, records=records)])])


def fetch_body(topic: str, partition: int, offset: int, max_wait_ms: int = 0):
    """A sessionless FetchRequest body (by topic name, v4-v12) for one partition."""
    mod = messages.module("FetchRequest")
    return messages.FetchRequest(max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 20,
                                 topics=[mod.FetchTopic(topic=topic, partitions=[
                                     mod.FetchPartition(partition=partition, fetch_offset=offset,
                                                        partition_max_bytes=1 << 20)])])


def create_topic(wire: KafkaWire, name: str, partitions: int = 1, configs=None) -> int:
    """CreateTopics v5 for one topic; returns its error code."""
    mod = messages.module("CreateTopicsRequest")
    body = messages.CreateTopicsRequest(timeout_ms=10_000, topics=[mod.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=1,
        configs=[mod.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()])])
    (result,) = wire.request(19, 5, body).topics
    return result.error_code
