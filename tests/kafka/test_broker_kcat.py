"""kcat against the broker: -L lists the broker and topics, -P produces lines, -C -e reads them
back in order; and `make run` (panda-runtime with no flags) gives a broker kcat can list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from panda.runtime.config import load_config
from panda.runtime.service import load_service_classes
from panda.services.launcher import DEFAULT_SERVICES
from panda.testing import NodeProcess, free_port

from .conftest import CLIENT_TIMEOUT_S, stop_quietly, unique_topic

pytestmark = pytest.mark.multiprocess


def run_kcat(kcat: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([kcat, *args], check=False, input=stdin, capture_output=True, text=True,
                            timeout=CLIENT_TIMEOUT_S)
    assert result.returncode == 0, f"kcat {' '.join(args)}: {result.stderr}"
    return result.stdout


def test_kcat_lists_broker_and_topics(module_broker, kcat):
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = unique_topic("kcat-list")
    admin = AdminClient({"bootstrap.servers": module_broker.kafka_addr})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(CLIENT_TIMEOUT_S)
    listing = run_kcat(kcat, "-b", module_broker.kafka_addr, "-L", "-m", "10")
    assert "1 brokers:" in listing
    assert f"broker 0 at {module_broker.kafka_addr}" in listing
    assert f'topic "{topic}" with 3 partitions:' in listing


def test_kcat_produce_then_consume_in_order(module_broker, kcat):
    topic = unique_topic("kcat-lines")
    lines = [f"line {i} {'x' * (i % 7)}" for i in range(200)]
    addr = module_broker.kafka_addr
    # -P on an unknown topic: the producer's metadata request creates it (1 partition).
    run_kcat(kcat, "-b", addr, "-P", "-t", topic, "-p", "0", "-X", "acks=all",
             stdin="\n".join(lines) + "\n")
    out = run_kcat(kcat, "-b", addr, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
                   "-q", "-f", "%o %s\n")
    assert out.splitlines() == [f"{i} {line}" for i, line in enumerate(lines)]


def test_default_config_serves_kafka_on_9092():
    """`make run` starts `panda-runtime $(ARGS)` with no flags: the defaults must be a broker."""
    config = load_config(environ={}, classes=load_service_classes(DEFAULT_SERVICES),
                         services_default=DEFAULT_SERVICES)
    assert config.kafka.addr == "127.0.0.1:9092"
    assert config.services == list(DEFAULT_SERVICES)
    assert "panda.services.kafka:KafkaServer" in config.services
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "$(VENV)/bin/panda-runtime $(ARGS)" in makefile


def test_node_with_only_kafka_addr_serves_kcat(tmp_path, kcat):
    """The `make run` node, moved off 9092: the entry point with --kafka-addr alone (the admin
    port comes from the environment so a busy 9644 cannot fail the test; data in ./data)."""
    kafka_addr = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANDA_")}
    env["PANDA_ADMIN_ADDR"] = f"127.0.0.1:{free_port()}"
    node = NodeProcess(tmp_path, smp=1)
    node.argv = [str(Path(sys.executable).with_name("panda-runtime")), "--kafka-addr", kafka_addr]
    node._env = env
    try:
        node.start()
        listing = run_kcat(kcat, "-b", kafka_addr, "-L", "-m", "10")
        assert f"broker 0 at {kafka_addr}" in listing
        assert (tmp_path / "data" / "controller").is_dir()
    finally:
        stop_quietly(node)
