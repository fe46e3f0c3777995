"""The typed node configuration: the runtime's own keys plus one section per service that
declares one (`kafka: {addr: ...}`); defaults, then a YAML file, then PANDA_* env, then flags.

Every property has a default, a unit in its name and a line of documentation (msgspec.Meta).
Validation is msgspec's; errors name the failing path (`... - at $.kafka.request_bytes_max`).
The runtime knows no service by name: the sections come from the classes it is given.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any

import msgspec
import yaml

from . import constants
from .errors import ConfigError
from .sections import OptionField, declared_sections, is_size_name, option_fields
from .service import Service

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


def _doc(text: str, **constraints: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, **constraints)


class NodeConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The runtime's own keys; each service section joins them as a field (`compose`)."""

    smp: Annotated[PositiveInt | None, _doc(
        "number of shards (one process per core); default: the CPUs this process may use")] = None
    cpuset: Annotated[str | None, _doc(
        "CPUs to pin shards to, e.g. '0-3,6'; default: the first smp allowed CPUs")] = None
    memory_bytes: Annotated[int | None, _doc(
        "memory for the whole node, the reserve included (e.g. 4G); default: all RAM. "
        "Each shard's budget is (memory - reserve) / smp")] = None
    reserve_memory_bytes: Annotated[int | None, _doc(
        "part of the memory left to the OS (e.g. 1G); default: max(512M, 7% of RAM) "
        "without --memory, 0 with it")] = None
    overprovisioned: Annotated[bool, _doc(
        "share CPUs with others: no pinning, no busy-poll window")] = False
    node_id: Annotated[int, _doc("this node's id in the cluster", ge=0)] = 0
    data_dir: Annotated[str, _doc("directory for logs, snapshots and node state")] = "./data"
    blocked_reactor_notify_ms: Annotated[int, _doc(
        "report any callback holding a reactor longer than this (ms)", ge=1,
    )] = constants.BLOCKED_REACTOR_NOTIFY_MS_DEFAULT
    idle_poll_us: Annotated[int, _doc(
        "how long a reactor polls its rings after the last message before sleeping",
        ge=0, le=1_000_000)] = constants.IDLE_POLL_US_DEFAULT
    ring_bytes: Annotated[
        Annotated[int, msgspec.Meta(ge=constants.RING_BYTES_MIN, le=constants.RING_BYTES_MAX)]
        | None,
        _doc("data bytes of each shard-to-shard ring (power of two); default: 8M, less past "
             "9 shards so one shard's outgoing rings stay within 64M")] = None
    message_bytes_max: Annotated[int, _doc(
        "largest cross-shard message after encoding (bytes)", ge=1,
    )] = constants.MESSAGE_BYTES_MAX_DEFAULT
    calls_in_flight_max: Annotated[int, _doc(
        "cross-shard calls in flight per (service group, destination shard)", ge=1,
    )] = constants.CALLS_IN_FLIGHT_MAX_DEFAULT
    services: Annotated[list[str], _doc("services to run, as 'module:Class'")] = msgspec.field(
        default_factory=list)
    log_level: Annotated[str, _doc("debug, info, warning or error")] = "info"
    gc_freeze: Annotated[bool, _doc(
        "once every service has started, freeze the objects start-up made so full garbage "
        "collections skip them (shorter GC pauses)")] = True


RUNTIME_FIELDS = option_fields(NodeConfig)
DESCRIPTIONS = {f.name: f.description for f in RUNTIME_FIELDS}

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


Sections = Mapping[str, type[msgspec.Struct]]


def compose(sections: Sections) -> type[NodeConfig]:
    """NodeConfig plus one field per service section (`kafka: KafkaConfig`), each defaulting
    to its Struct's defaults; the composed type still refuses unknown keys at every level."""
    if not sections:
        return NodeConfig
    _check_option_names(sections)
    fields = [(name, struct, msgspec.field(default_factory=struct))
              for name, struct in sorted(sections.items())]
    composed = msgspec.defstruct("NodeConfig", fields, bases=(NodeConfig,), module=__name__,
                                 kw_only=True, forbid_unknown_fields=True)
    return typing.cast(type[NodeConfig], composed)


def load_config(
    path: str | None = None,
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    *,
    classes: Iterable[type[Service]] = (),
    services_default: Sequence[str] = (),
) -> NodeConfig:
    """Merge defaults < file < env < flags and validate the result. `classes` are the
    services whose config sections the node accepts; flags nest sections as in the file."""
    sections = declared_sections(classes)
    merged: dict[str, Any] = {"services": list(services_default)}
    for origin, layer in (
        (f"file {path}", _read_file(path) if path else {}),
        ("environment", _read_env(dict(os.environ) if environ is None else environ, sections)),
        ("flags", _set_flags(flags or {})),
    ):
        _merge(merged, layer, origin, sections)
    try:
        config = msgspec.convert(merged, compose(sections))
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid config: {_explain(exc)}") from None
    _check(config)
    return config


def configured_services(path: str | None, environ: Mapping[str, str],
                        default: Sequence[str]) -> list[str]:
    """The services to run as the file and PANDA_SERVICES say (not validated yet): what a
    launcher loads before it knows which config sections and flags the node has."""
    services = list(default)
    listed = _read_file(path).get("services") if path else None
    if isinstance(listed, list):
        services = [str(s) for s in listed]
    raw = environ.get("PANDA_SERVICES")
    return raw.split(",") if raw is not None else services


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


def _read_env(environ: Mapping[str, str], sections: Sections) -> dict[str, Any]:
    """PANDA_<KEY> for the runtime's keys, PANDA_<SECTION>_<FIELD> for a section's."""
    values: dict[str, Any] = {}
    for field in RUNTIME_FIELDS:
        raw = environ.get(field.env)
        if raw is not None:
            values[field.name] = raw.split(",") if field.name == "services" else _env_value(
                field, raw)
    for name, struct in sections.items():
        for field in option_fields(struct, name):
            raw = environ.get(field.env)
            if raw is not None:
                values.setdefault(name, {})[field.name] = _env_value(field, raw)
    return values


def _env_value(field: OptionField, raw: str) -> Any:
    return raw if field.kind is str else yaml.safe_load(raw)


def _set_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """Flags left unset (None) do not override; a section's flags come as a dict."""
    out: dict[str, Any] = {}
    for key, value in flags.items():
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None} or None
        if value is not None:
            out[key] = value
    return out


def _merge(merged: dict[str, Any], layer: dict[str, Any], origin: str,
           sections: Sections) -> None:
    """One layer over the ones below: runtime keys replace, a section's keys merge."""
    for key, value in layer.items():
        if key in sections:
            if not isinstance(value, dict):
                raise ConfigError(f"expected a mapping of {key} settings - at $.{key} ({origin})")
            merged[key] = {**merged.get(key, {}), **_sizes(value, f"$.{key}.", origin)}
        else:
            merged[key] = _sizes({key: value}, "$.", origin)[key]


def _sizes(values: dict[str, Any], prefix: str, origin: str) -> dict[str, Any]:
    """Fields with `bytes` in their name accept sizes: '100M' -> 104857600."""
    out = dict(values)
    for key, value in values.items():
        if isinstance(value, str) and isinstance(key, str) and is_size_name(key):
            try:
                out[key] = parse_size(value)
            except ValueError as exc:
                raise ConfigError(f"{exc} - at {prefix}{key} ({origin})") from None
    return out


_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]*)`(?: - at `\$([^`]*)`)?")


def _explain(exc: msgspec.ValidationError) -> str:
    """msgspec's message, with an unknown key's own path (`$.kafka.xyz`, not `$.kafka`)."""
    match = _UNKNOWN_FIELD.fullmatch(str(exc))
    if match is None:
        return str(exc)
    return f"unknown key `{match[1]}` - at `${match[2] or ''}.{match[1]}`"


def _check_option_names(sections: Sections) -> None:
    """Every section field must get a flag and env name of its own."""
    taken = {field.env: field.path for field in RUNTIME_FIELDS}
    for name, struct in sections.items():
        if name in NodeConfig.__struct_fields__:
            raise ConfigError(f"config section {name!r} has a runtime key's name - at $.{name}")
        for field in option_fields(struct, name):
            other = taken.setdefault(field.env, field.path)
            if other != field.path:
                raise ConfigError(f"{field.path} and {other} would share {field.flag} and "
                                  f"{field.env} - at {field.path}")


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
        raise ConfigError(
            f"ring_bytes must be a power of two - at $.ring_bytes ({config.ring_bytes})")
    if config.cpuset is not None:
        try:
            parse_cpuset(config.cpuset)
        except ValueError as exc:
            raise ConfigError(f"{exc} - at $.cpuset") from None
    for spec in config.services:
        if ":" not in spec:
            raise ConfigError(f"service {spec!r} is not 'module:Class' - at $.services")
