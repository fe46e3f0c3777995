"""The node's command line: start a node. Flags beat env, which beats the config file, which
beats the defaults.

Two phases: `--config`, `--service` and PANDA_SERVICES first say which services the node runs,
their classes are loaded, then the full command is built with a flag per field of each
service's config section (`--kafka-addr`). A launcher passes its default services
(`main(default_services=...)`); bare, the runtime runs only the services it is given.
Invalid flags or config end in a one-line error naming the option, with exit code 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click
import yaml

from .config import DESCRIPTIONS, configured_services, load_config, parse_size
from .errors import ConfigError, MemoryBudgetError
from .sections import OptionField, declared_sections, option_fields
from .service import Service, load_service_classes

PROG = "panda-runtime"


class _Size(click.ParamType):
    name = "SIZE"

    def convert(self, value, param, ctx):
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _Yaml(click.ParamType):
    """A value of another type (a list, a mapping): read as YAML, validated by msgspec."""

    name = "YAML"

    def convert(self, value, param, ctx):
        try:
            return yaml.safe_load(value) if isinstance(value, str) else value
        except yaml.YAMLError as exc:
            self.fail(f"not YAML: {exc}", param, ctx)


SIZE = _Size()


def _runtime_options() -> list[click.Option]:
    d = DESCRIPTIONS
    return [
        click.Option(["--smp"], type=click.IntRange(min=1), help=d["smp"] + " [shards]"),
        click.Option(["--cpuset"], help=d["cpuset"] + " [CPU list]"),
        click.Option(["--memory", "memory_bytes"], type=SIZE, help=d["memory_bytes"] + " [bytes]"),
        click.Option(["--reserve-memory", "reserve_memory_bytes"], type=SIZE,
                     help=d["reserve_memory_bytes"] + " [bytes]"),
        click.Option(["--overprovisioned"], is_flag=True, default=None, help=d["overprovisioned"]),
        click.Option(["--node-id"], type=click.IntRange(min=0), help=d["node_id"] + " [id]"),
        click.Option(["--data-dir"], type=click.Path(file_okay=False),
                     help=d["data_dir"] + " [path]"),
        click.Option(["--config", "config_file"], type=click.Path(dir_okay=False),
                     help="YAML node config file; env and flags override it [path]"),
        click.Option(["--blocked-reactor-notify-ms"], type=click.IntRange(min=1),
                     help=d["blocked_reactor_notify_ms"] + " [ms]"),
        click.Option(["--idle-poll-us"], type=click.IntRange(min=0),
                     help=d["idle_poll_us"] + " [µs]"),
        click.Option(["--ring-bytes"], type=SIZE, help=d["ring_bytes"] + " [bytes]"),
        click.Option(["--message-bytes-max"], type=SIZE, help=d["message_bytes_max"] + " [bytes]"),
        click.Option(["--service", "services"], multiple=True,
                     help="add a service to run (repeatable) [module:Class]"),
        click.Option(["--gc-freeze/--no-gc-freeze"], default=None, help=d["gc_freeze"]),
        click.Option(["--log-level"], type=click.Choice(["debug", "info", "warning", "error"]),
                     help=d["log_level"]),
    ]


def section_option(field: OptionField) -> click.Option:
    """`--<section>-<field>`: help is the description and the unit; sizes for *_bytes*."""
    if field.kind is bool:
        return click.Option([f"{field.flag}/--no-{field.flag[2:]}", field.param], default=None,
                            help=field.description)
    unit = f" [{field.unit}]" if field.unit else ""
    return click.Option([field.flag, *field.aliases, field.param], type=_param_type(field),
                        help=field.description + unit)


def _param_type(field: OptionField) -> click.ParamType | None:
    bounded = field.ge is not None or field.le is not None
    if field.is_size:
        return SIZE
    if field.kind is int:
        return click.IntRange(_int(field.ge), _int(field.le)) if bounded else click.INT
    if field.kind is float:
        return click.FloatRange(field.ge, field.le) if bounded else click.FLOAT
    return None if field.kind is str else _Yaml()


def _int(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


def build_command(classes: Sequence[type[Service]],
                  default_services: Sequence[str] = ()) -> click.Command:
    """The full command for a node that knows `classes`: the runtime's options, then one
    flag per field of each config section."""
    sections = declared_sections(classes)
    params: list[click.Parameter] = [*_runtime_options()]
    for name, struct in sorted(sections.items()):
        params.extend(section_option(f) for f in option_fields(struct, name))

    def start(config_file: str | None, services: tuple[str, ...], **flags: Any) -> None:
        _start(config_file, services, _nest(flags), classes, default_services)

    return click.Command(
        PROG, params=params, callback=start,
        help="Start a panda-runtime node: one pinned, uvloop-driven process per shard.",
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})


def _start(config_file: str | None, services: tuple[str, ...], flags: dict[str, Any],
           classes: Sequence[type[Service]], default_services: Sequence[str]) -> None:
    from .node import run_node

    try:
        config = load_config(config_file, flags, classes=classes,
                             services_default=default_services)
        if services:
            config.services = [*config.services, *[s for s in services if s not in config.services]]
        code = run_node(config)
    except (ConfigError, MemoryBudgetError) as exc:
        _fail(str(exc))
    sys.exit(code)


def _nest(flags: dict[str, Any]) -> dict[str, Any]:
    """{'kafka__addr': v} -> {'kafka': {'addr': v}}; the runtime's keys stay flat."""
    out: dict[str, Any] = {}
    for key, value in flags.items():
        section, _, field = key.rpartition("__")
        if section:
            out.setdefault(section, {})[field] = value
        else:
            out[key] = value
    return out


def node_classes(argv: Sequence[str], default_services: Sequence[str]) -> list[type[Service]]:
    """Phase one: the classes of every service the node may run (the defaults, the config
    file's or PANDA_SERVICES' list, and each --service), before the flags are known."""
    config_file, extra = _scan(argv)
    services = configured_services(config_file, os.environ, default_services)
    return load_service_classes(list(dict.fromkeys([*default_services, *services, *extra])))


def _scan(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """--config and --service values, read before the command that parses them exists."""
    config_file, services = None, []
    for index, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name not in ("--config", "--service"):
            continue
        if not eq:
            value = argv[index + 1] if index + 1 < len(argv) else ""
        if name == "--config":
            config_file = value or None
        elif value:
            services.append(value)
    return config_file, services


def _fail(message: str) -> None:
    """The one-line error every invalid flag, file or env value ends in: exit code 2."""
    click.echo(f"{PROG}: error: {' '.join(message.split())}", err=True)
    sys.exit(2)


def main(default_services: Sequence[str] = (), argv: Sequence[str] | None = None) -> None:
    """Run the node command; a launcher names the services a node runs by default."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = build_command(node_classes(args, default_services), default_services)
    except ConfigError as exc:
        _fail(str(exc))
    try:
        code = command.main(args, prog_name=PROG, standalone_mode=False)
    except click.UsageError as exc:        # bad flag value, unknown flag: name it, one line
        _fail(exc.format_message())
    except click.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
