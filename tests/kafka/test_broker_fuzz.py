"""A bounded stream (frame count and time) of random and mutated client frames never takes a
shard down, and a well-formed client on its own connection keeps working throughout.

Sources: real client frames from ../shared/kafka-frames/requests (skipped if absent) mutated by
flipping, truncating, extending, splicing and lying about the size; and random frames. The
seed is printed (and read from PANDA_FUZZ_SEED) so a failure replays. A handler that raises on
input that decoded (the connection is closed with "request handler failed") fails the test too.
"""

from __future__ import annotations

import json
import os
import random
import select
import socket
import struct
import time
from pathlib import Path

import pytest

from panda.net.kafka import ProtocolError, decode_request
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

FRAMES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "kafka-frames"
FRAMES_MAX = int(os.environ.get("PANDA_FUZZ_FRAMES") or 8000)       # longer runs: raise both
FUZZ_S_MAX = float(os.environ.get("PANDA_FUZZ_SECONDS") or 25.0)
FRAMES_PER_CONNECTION = 12
DRAIN_IDLE_S = 0.03
HEALTH_EVERY = 100                    # frames between two well-formed client round trips
# Valid topic administration is real work, not malformed input: a flipped bit in a partition
# count asks for 65k partitions. Such frames are not sent when they still decode.
ADMIN_APIS = {19, 20, 21, 33, 37, 44}


def corpus() -> list[bytes]:
    index = FRAMES_DIR / "index.json"
    if not index.is_file():
        return []
    entries = json.loads(index.read_text())["frames"]
    return [(FRAMES_DIR / e["file"]).read_bytes() for e in entries
            if e["api_key"] not in ADMIN_APIS]


def corpus_topics(frames: list[bytes]) -> set[str]:
    """Topic names the captured Produce and Fetch frames use (created up front, so those
    frames reach real partitions)."""
    names: set[str] = set()
    for frame in frames:
        try:
            header, body, _ = decode_request(frame)
        except ProtocolError:
            continue
        if header.request_api_key == 0:
            names.update(t.name for t in body.topic_data)
        elif header.request_api_key == 1:
            names.update(t.topic for t in body.topics if t.topic)
    return names


def mutate(rng: random.Random, frame: bytes) -> tuple[bytes, int]:
    """A mutated copy of frame and the size prefix to send with it (sometimes a lie)."""
    data = bytearray(frame)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        if kind == 0 and data:                                   # flip bits
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:                                 # truncate
            del data[rng.randrange(len(data)):]
        elif kind == 2:                                          # extend
            data += rng.randbytes(rng.randint(1, 64))
        elif kind == 3 and len(data) > 8:                        # overwrite a run
            at = rng.randrange(len(data) - 4)
            data[at:at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff",
                                          b"\x80\x00\x00\x00", b"\x00\x00\x00\x00"])
        elif kind == 4 and len(data) > 2:                        # duplicate a slice
            at = rng.randrange(len(data) - 1)
            data[at:at] = data[at:at + rng.randint(1, 32)]
        elif kind == 5 and len(data) > 4:                        # a random version
            data[2:4] = struct.pack(">h", rng.randint(-2, 40))
        elif kind == 6 and data:                                 # random varint-ish bytes
            at = rng.randrange(len(data))
            data[at:at + 1] = bytes(rng.choice([0x80, 0xff, 0x00, 0x01]) for _ in range(6))
    size = len(data)
    if rng.random() < 0.03:
        size += rng.randint(1, 100)                              # says more than it sends
    return bytes(data), size


def random_frame(rng: random.Random) -> bytes:
    header = struct.pack(">hhi", rng.randint(-1, 75), rng.randint(-1, 20),
                         rng.randint(0, 1 << 30))
    client_id = rng.choice([b"\xff\xff", b"\x00\x03abc", rng.randbytes(2)])
    return header + client_id + rng.randbytes(rng.randint(0, 300))


def is_admin_request(frame: bytes) -> bool:
    try:
        header, _, _ = decode_request(frame)
    except ProtocolError:             # its only error: anything else fails the test
        return False
    return header.request_api_key in ADMIN_APIS


class Spray:
    """Connections that send frames without waiting for answers; each is drained (bounded)
    and closed after FRAMES_PER_CONNECTION frames or as soon as the broker closes it."""

    def __init__(self, addr: str):
        self.addr = addr
        self.sock: socket.socket | None = None
        self.sent_on_socket = 0
        self.closed_by_broker = 0

    def send(self, frame: bytes, size: int) -> None:
        if self.sock is None:
            host, _, port = self.addr.rpartition(":")
            self.sock = socket.create_connection((host, int(port)), timeout=1.0)
        try:
            self.sock.sendall(struct.pack(">i", size) + frame)
        except (OSError, TimeoutError):
            self.closed_by_broker += 1
            self._close()
            return
        self.sent_on_socket += 1
        if self.sent_on_socket >= FRAMES_PER_CONNECTION or size != len(frame):
            self.drain_and_close()

    def drain_and_close(self) -> None:
        if self.sock is None:
            return
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], DRAIN_IDLE_S)
            if not ready:
                break
            try:
                if not self.sock.recv(1 << 16):
                    self.closed_by_broker += 1
                    break
            except OSError:
                self.closed_by_broker += 1
                break
        self._close()

    def _close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.sent_on_socket = 0


class HealthyClient:
    """A well-formed client on its own connection: produce one record, read it back."""

    def __init__(self, addr: str, topic: str):
        self.wire = KafkaWire(addr)
        self.topic = topic
        self.rounds = 0

    def check(self) -> None:
        self.rounds += 1
        value = b"healthy-%d" % self.rounds
        records = build_batch([Record(offset=0, timestamp=int(time.time() * 1000),
                                      key=None, value=value, headers=[])])
        produced = self.wire.request(0, 9, produce_body(self.topic, 0, records))
        (result,) = produced.responses[0].partition_responses
        assert result.error_code == 0, f"healthy produce failed: {result}"
        fetched = self.wire.request(1, 12, fetch_body(self.topic, 0, result.base_offset))
        (data,) = fetched.responses[0].partitions
        assert data.error_code == 0
        assert decode_records(bytes(data.records))[0].value == value


@pytest.fixture
def node(tmp_path):
    node = start_broker(tmp_path / "fuzz", env={"PANDA_KAFKA_AUTO_CREATE_TOPICS_ENABLED": "false"})
    yield node
    stop_quietly(node)


def test_mutated_and_random_frames_never_kill_a_shard(node):
    seed = int(os.environ.get("PANDA_FUZZ_SEED") or random.randrange(1 << 32))
    print(f"fuzz seed: {seed} (replay with PANDA_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    frames = corpus()
    healthy_topic = unique_topic("healthy")
    with KafkaWire(node.kafka_addr) as admin:
        assert create_topic(admin, healthy_topic) == 0
        for name in sorted(corpus_topics(frames)):
            create_topic(admin, name, partitions=3)
    healthy = HealthyClient(node.kafka_addr, healthy_topic)
    spray = Spray(node.kafka_addr)
    shards = node.shard_pids()
    sent = 0
    deadline = time.monotonic() + FUZZ_S_MAX
    try:
        healthy.check()
        while sent < FRAMES_MAX and time.monotonic() < deadline:
            if frames and rng.random() < 0.85:
                frame, size = mutate(rng, rng.choice(frames))
            else:
                frame = random_frame(rng)
                size = len(frame)
            if is_admin_request(frame):
                continue
            spray.send(frame, size)
            sent += 1
            if sent % HEALTH_EVERY == 0:
                healthy.check()
                assert node.process.poll() is None, f"node died (seed {seed})"
        spray.drain_and_close()
        healthy.check()
    finally:
        healthy.wire.close()
    assert node.process.poll() is None, f"node died (seed {seed}):\n{node.log()[-3000:]}"
    assert node.shard_pids() == shards
    log = node.log()
    assert "exited unexpectedly" not in log
    failed_at = log.find("request handler failed")
    assert failed_at < 0, log[max(0, failed_at - 200):][:3000]
    assert sent >= 200, f"only {sent} frames in {FUZZ_S_MAX} s"
    print(f"fuzz: {sent} frames, {spray.closed_by_broker} connections closed by the broker, "
          f"{healthy.rounds} healthy round trips")
