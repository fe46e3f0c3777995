"""Config sections: a service brings a typed section (a msgspec Struct) and gets its flags and
env names from it; the node config is the runtime's keys plus the sections of the services it
knows, and still refuses unknown keys at every level, naming the path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import msgspec
import pytest
import yaml

from panda.runtime import ConfigError, Service
from panda.runtime.cli import build_command, node_classes
from panda.runtime.config import load_config
from panda.runtime.sections import declared_sections, option_fields
from panda.runtime.service import load_service_classes
from panda.services.kafka import KafkaConfig, KafkaServer, PartitionManager
from panda.services.launcher import DEFAULT_SERVICES

from .conftest import REPO_ROOT

PRODUCT = load_service_classes(DEFAULT_SERVICES)
THIS = "tests.runtime.test_config_sections"


class GreeterConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    greeting: Annotated[str, msgspec.Meta(description="what to say")] = "hello"
    reply_bytes_max: Annotated[int, msgspec.Meta(ge=1, description="longest reply")] = 1024
    loud: Annotated[bool, msgspec.Meta(description="shout")] = False


class Greeter(Service):
    name = "greeter"
    config_type = GreeterConfig
    config: GreeterConfig


class OtherGreeterConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    greeting: Annotated[str, msgspec.Meta(description="what to say")] = "hi"


class OtherGreeter(Service):
    name = "other_greeter"
    config_section = "greeter"
    config_type = OtherGreeterConfig


def config_of(classes, path=None, flags=None, environ=None):
    return load_config(path, flags, environ or {}, classes=classes)


def write_yaml(tmp_path: Path, data: dict) -> str:
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


# -- composition --------------------------------------------------------------------------
def test_a_user_service_section_is_read_from_the_file_with_its_defaults(tmp_path):
    config = config_of([Greeter], write_yaml(tmp_path, {"smp": 2, "greeter": {"loud": True}}))
    assert config.smp == 2
    assert config.greeter == GreeterConfig(loud=True)       # the others keep their defaults
    assert config_of([Greeter]).greeter == GreeterConfig()


def test_services_sharing_a_section_share_one_struct():
    sections = declared_sections(PRODUCT)
    assert sections["kafka"] is KafkaConfig
    assert KafkaServer.section_name() == PartitionManager.section_name() == "kafka"
    assert set(sections) == {"admin", "groups", "kafka"}


def test_two_structs_under_one_section_name_are_refused():
    with pytest.raises(ConfigError, match=r"'greeter' is declared twice.*\$\.greeter"):
        declared_sections([Greeter, OtherGreeter])


@pytest.mark.parametrize("data, path", [
    ({"kafka": {"xyz": 1}}, "$.kafka.xyz"),
    ({"bogus_option": 1}, "$.bogus_option"),
    ({"greeter": {"greeting": "hi"}}, "$.greeter"),       # no such service on this node
    ({"kafka": {"addr": 9092}}, "$.kafka.addr"),
    ({"kafka": {"request_bytes_max": 0}}, "$.kafka.request_bytes_max"),
    ({"kafka": {"request_bytes_max": "lots"}}, "$.kafka.request_bytes_max"),
    ({"kafka": "127.0.0.1:9092"}, "$.kafka"),
    ({"groups": {"members_max": "many"}}, "$.groups.members_max"),
])
def test_invalid_section_values_and_unknown_keys_name_their_path(tmp_path, data, path):
    with pytest.raises(ConfigError) as info:
        config_of(PRODUCT, write_yaml(tmp_path, data))
    assert path in str(info.value)


def test_sizes_work_in_sections_from_every_layer(tmp_path):
    path = write_yaml(tmp_path, {"kafka": {"request_bytes_max": "100M"}})
    assert config_of(PRODUCT, path).kafka.request_bytes_max == 100 << 20
    env = {"PANDA_KAFKA_REQUEST_BYTES_MAX": "2M"}
    assert config_of(PRODUCT, path, environ=env).kafka.request_bytes_max == 2 << 20
    flags = parse_flags(["--kafka-request-bytes-max", "64K"])
    assert config_of(PRODUCT, path, flags, env).kafka.request_bytes_max == 64 << 10


def test_env_beats_the_file_and_flags_beat_both_inside_a_section(tmp_path):
    path = write_yaml(tmp_path, {"kafka": {"addr": "127.0.0.1:1", "slow_request_ms": 5,
                                           "default_topic_partitions": 3}})
    env = {"PANDA_KAFKA_ADDR": "127.0.0.1:2", "PANDA_KAFKA_SLOW_REQUEST_MS": "6",
           "PANDA_ADMIN_ADDR": "127.0.0.1:3"}
    flags = parse_flags(["--kafka-addr", "127.0.0.1:4", "--no-kafka-auto-create-topics-enabled"])
    kafka = config_of(PRODUCT, path, flags, env).kafka
    assert kafka.addr == "127.0.0.1:4"                     # flag > env > file
    assert kafka.slow_request_ms == 6                      # env > file
    assert kafka.default_topic_partitions == 3             # file > default
    assert kafka.auto_create_topics_enabled is False       # a switch, off
    assert config_of(PRODUCT, path, flags, env).admin.addr == "127.0.0.1:3"


# -- flags --------------------------------------------------------------------------------
def parse_flags(argv: list[str], classes=PRODUCT) -> dict:
    """What the command hands load_config, without starting a node."""
    from panda.runtime.cli import _nest

    context = build_command(classes).make_context("panda-runtime", argv)
    return _nest({k: v for k, v in context.params.items()
                  if k not in ("config_file", "services")})


def test_each_section_field_gets_a_flag_and_the_old_names_still_work():
    flags = parse_flags(["--kafka-addr", "127.0.0.1:1", "--advertised-kafka-addr", "h:2",
                         "--admin-addr", "127.0.0.1:3", "--groups-members-max", "7"])
    config = config_of(PRODUCT, flags=flags)
    assert (config.kafka.addr, config.kafka.advertised_addr) == ("127.0.0.1:1", "h:2")
    assert config.admin.addr == "127.0.0.1:3" and config.groups.members_max == 7
    assert parse_flags(["--kafka-advertised-addr", "h:4"])["kafka"]["advertised_addr"] == "h:4"


def test_a_service_given_with_service_brings_its_flags():
    argv = ["--service", f"{THIS}:Greeter", "--greeter-greeting", "hey", "--greeter-loud"]
    classes = node_classes(argv, ())
    assert Greeter in classes
    flags = parse_flags(argv, classes)
    assert config_of(classes, flags=flags).greeter == GreeterConfig(greeting="hey", loud=True)
    names = {f.flag: f.env for f in option_fields(GreeterConfig, "greeter")}
    assert names["--greeter-reply-bytes-max"] == "PANDA_GREETER_REPLY_BYTES_MAX"


@pytest.mark.multiprocess
def test_help_lists_the_kafka_flags_with_their_units():
    result = subprocess.run([sys.executable, "-m", "panda.services.launcher", "--help"],
                            capture_output=True, text=True, timeout=30, check=True)
    text = " ".join(result.stdout.split())
    for flag, unit in [("--kafka-addr", "[host:port]"), ("--kafka-request-bytes-max", "[bytes]"),
                       ("--kafka-flush-debounce-us", "[µs]"), ("--kafka-slow-request-ms", "[ms]"),
                       ("--kafka-default-topic-partitions", "[partitions]"),
                       ("--admin-addr", "[host:port]"), ("--groups-members-max", "[members]")]:
        after = text.split(flag + " ", 1)[1]
        assert unit in after.split(" --", 1)[0].replace("- ", "-"), (flag, unit)
    assert "--advertised-kafka-addr" in text


@pytest.mark.multiprocess
def test_the_bare_runtime_knows_no_kafka_option(tmp_path):
    env = {"PYTHONPATH": REPO_ROOT, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "panda.runtime", "--kafka-addr", "x:1"],
                            capture_output=True, text=True, timeout=30, check=False, env=env,
                            cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("panda-runtime: error: ") and "--kafka-addr" in result.stderr


# -- what a section must declare ----------------------------------------------------------
class Loose(msgspec.Struct, kw_only=True):
    x: Annotated[int, msgspec.Meta(description="x")] = 1


class NoDefault(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    x: Annotated[int, msgspec.Meta(description="x")]


class Undocumented(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    x: int = 1


class RingConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    bytes: Annotated[int, msgspec.Meta(description="clashes with --ring-bytes")] = 1


def _service(struct: type, section: str = "probe") -> type[Service]:
    return type("Declares", (Service,), {"name": section, "config_type": struct})


@pytest.mark.parametrize("struct, section, message", [
    (Loose, "probe", "forbid_unknown_fields"),
    (NoDefault, "probe", "needs a default"),
    (Undocumented, "probe", "no msgspec.Meta(description"),
    (RingConfig, "ring", "--ring-bytes"),
    (GreeterConfig, "smp", "runtime key"),
    (GreeterConfig, "Greeter", "lower_case"),
])
def test_a_badly_declared_section_is_a_config_error(struct, section, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config_of([_service(struct, section)])
