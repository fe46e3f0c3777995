"""The typed node configuration: defaults, then a YAML file, then PANDA_* env, then flags.

Every property has a default, a unit in its name and a line of documentation (`describe`).
Validation is msgspec's; errors name the failing path (`... - at $.ring_bytes`).
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

import msgspec
import yaml

from . import constants
from .errors import ConfigError

DEFAULT_SERVICES = (
    "panda.services.admin:AdminService",
    "panda.services.controller:Controller",
    "panda.services.kafka:PartitionManager",
    "panda.services.kafka.groups:GroupCoordinator",
    "panda.services.kafka:KafkaServer",
)

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class NodeConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Node-local settings; cluster-wide ones live in the controller (later)."""

    smp: PositiveInt | None = None
    cpuset: str | None = None
    memory_bytes: int | None = None
    reserve_memory_bytes: int | None = None
    overprovisioned: bool = False
    node_id: Annotated[int, msgspec.Meta(ge=0)] = 0
    data_dir: str = "./data"
    blocked_reactor_notify_ms: PositiveInt = constants.BLOCKED_REACTOR_NOTIFY_MS_DEFAULT
    admin_addr: str = "127.0.0.1:9644"
    idle_poll_us: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = constants.IDLE_POLL_US_DEFAULT
    ring_bytes: Annotated[
        int, msgspec.Meta(ge=constants.RING_BYTES_MIN, le=constants.RING_BYTES_MAX)
    ] | None = None
    message_bytes_max: PositiveInt = constants.MESSAGE_BYTES_MAX_DEFAULT
    calls_in_flight_max: PositiveInt = constants.CALLS_IN_FLIGHT_MAX_DEFAULT
    services: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_SERVICES))
    log_level: str = "info"
    kafka_addr: str = "127.0.0.1:9092"
    advertised_kafka_addr: str | None = None
    kafka_request_max_bytes: PositiveInt = 100 * 1024 * 1024
    auto_create_topics_enabled: bool = True
    default_topic_partitions: PositiveInt = 1
    flush_debounce_us: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    slow_request_ms: PositiveInt = 1000
    gc_freeze: bool = True


DESCRIPTIONS = {
    "smp": "number of shards (one process per core); default: the CPUs this process may use",
    "cpuset": "CPUs to pin shards to, e.g. '0-3,6'; default: the first smp allowed CPUs",
    "memory_bytes": "memory for the whole node, the reserve included (e.g. 4G); default: all "
                    "RAM. Each shard's budget is (memory - reserve) / smp",
    "reserve_memory_bytes": "part of the memory left to the OS (e.g. 1G); default: "
                            "max(512M, 7% of RAM) without --memory, 0 with it",
    "overprovisioned": "share CPUs with others: no pinning, no busy-poll window",
    "node_id": "this node's id in the cluster",
    "data_dir": "directory for logs, snapshots and node state",
    "blocked_reactor_notify_ms": "report any callback holding a reactor longer than this (ms)",
    "admin_addr": "host:port of the admin HTTP server (/metrics) on shard 0",
    "idle_poll_us": "how long a reactor polls its rings after the last message before sleeping",
    "ring_bytes": "data bytes of each shard-to-shard ring (power of two); default: 8M, less "
                  "past 9 shards so one shard's outgoing rings stay within 64M",
    "message_bytes_max": "largest cross-shard message after encoding (bytes)",
    "calls_in_flight_max": "cross-shard calls in flight per (service group, destination shard)",
    "services": "services to run, as 'module:Class'",
    "log_level": "debug, info, warning or error",
    "kafka_addr": "host:port the Kafka API listens on (every shard, SO_REUSEPORT)",
    "advertised_kafka_addr": "host:port clients are told to connect to; default: kafka_addr",
    "kafka_request_max_bytes": "largest Kafka request accepted (bytes); larger closes the connection",
    "auto_create_topics_enabled": "create unknown topics on metadata or produce requests",
    "default_topic_partitions": "partitions of a topic created without a count",
    "flush_debounce_us": "wait this long after the first durable append so one fsync covers more",
    "slow_request_ms": "log a line for any Kafka request slower than this, with where time went",
    "gc_freeze": "once every service has started, freeze the objects start-up made so full "
                 "garbage collections skip them (shorter GC pauses)",
}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """'4G', '512M', '1.5g', '1048576' -> bytes."""
    if isinstance(text, int):
        return text
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 512M, 4G)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def parse_cpuset(text: str) -> list[int]:
    """'0-3,6' -> [0, 1, 2, 3, 6]."""
    cpus: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"not a cpuset: {text!r} (use e.g. 0-3,6)")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    if not cpus:
        raise ValueError(f"empty cpuset: {text!r}")
    return cpus


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return data


def _read_env(environ: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in NodeConfig.__struct_fields__:
        raw = environ.get(f"PANDA_{name.upper()}")
        if raw is not None:
            values[name] = raw.split(",") if name == "services" else yaml.safe_load(raw)
    return values


def _normalise_sizes(values: dict[str, Any], origin: str) -> None:
    for key in ("memory_bytes", "reserve_memory_bytes", "ring_bytes", "message_bytes_max",
                "kafka_request_max_bytes"):
        if isinstance(values.get(key), str):
            try:
                values[key] = parse_size(values[key])
            except ValueError as exc:
                raise ConfigError(f"{exc} - at $.{key} ({origin})") from None


def load_config(
    path: str | None = None,
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> NodeConfig:
    """Merge defaults < file < env < flags and validate the result."""
    merged: dict[str, Any] = {}
    for origin, layer in (
        (f"file {path}", _read_file(path) if path else {}),
        ("environment", _read_env(dict(os.environ) if environ is None else environ)),
        ("flags", {k: v for k, v in (flags or {}).items() if v is not None}),
    ):
        _normalise_sizes(layer, origin)
        merged.update(layer)
    try:
        config = msgspec.convert(merged, NodeConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid config: {exc}") from None
    _check(config)
    return config


def ring_bytes_for(smp: int, configured: int | None) -> int:
    """The configured ring size, or the largest power of two that keeps one shard's
    outgoing rings within RINGS_PER_SHARD_BYTES_MAX (capped at RING_BYTES_DEFAULT)."""
    if configured is not None:
        return configured
    share = constants.RINGS_PER_SHARD_BYTES_MAX // max(1, smp - 1)
    size = constants.RING_BYTES_DEFAULT
    while size > share and size > constants.RING_BYTES_MIN:
        size //= 2
    return size


def _check(config: NodeConfig) -> None:
    if config.ring_bytes is not None and config.ring_bytes & (config.ring_bytes - 1):
        raise ConfigError(f"ring_bytes must be a power of two - at $.ring_bytes ({config.ring_bytes})")
    if config.cpuset is not None:
        try:
            parse_cpuset(config.cpuset)
        except ValueError as exc:
            raise ConfigError(f"{exc} - at $.cpuset") from None
    for spec in config.services:
        if ":" not in spec:
            raise ConfigError(f"service {spec!r} is not 'module:Class' - at $.services")
