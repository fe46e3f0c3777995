"""`panda-runtime`: start a node. Flags beat the config file, which beats the defaults.

Invalid flags or config end in a one-line error naming the option, with exit code 2.
"""

from __future__ import annotations

import sys

import click

from .config import DESCRIPTIONS, load_config, parse_size
from .errors import ConfigError, MemoryBudgetError


class _Size(click.ParamType):
    name = "SIZE"

    def convert(self, value, param, ctx):
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE = _Size()


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--smp", type=click.IntRange(min=1), help=DESCRIPTIONS["smp"] + " [shards]")
@click.option("--cpuset", help=DESCRIPTIONS["cpuset"] + " [CPU list]")
@click.option("--memory", "memory_bytes", type=SIZE, help=DESCRIPTIONS["memory_bytes"] + " [bytes]")
@click.option("--reserve-memory", "reserve_memory_bytes", type=SIZE,
              help=DESCRIPTIONS["reserve_memory_bytes"] + " [bytes]")
@click.option("--overprovisioned", is_flag=True, default=None, help=DESCRIPTIONS["overprovisioned"])
@click.option("--node-id", type=click.IntRange(min=0), help=DESCRIPTIONS["node_id"] + " [id]")
@click.option("--data-dir", type=click.Path(file_okay=False), help=DESCRIPTIONS["data_dir"] + " [path]")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="YAML node config file; flags override it [path]")
@click.option("--blocked-reactor-notify-ms", type=click.IntRange(min=1),
              help=DESCRIPTIONS["blocked_reactor_notify_ms"] + " [ms]")
@click.option("--admin-addr", help=DESCRIPTIONS["admin_addr"] + " [host:port]")
@click.option("--idle-poll-us", type=click.IntRange(min=0), help=DESCRIPTIONS["idle_poll_us"] + " [µs]")
@click.option("--ring-bytes", type=SIZE, help=DESCRIPTIONS["ring_bytes"] + " [bytes]")
@click.option("--message-bytes-max", type=SIZE, help=DESCRIPTIONS["message_bytes_max"] + " [bytes]")
@click.option("--kafka-addr", help=DESCRIPTIONS["kafka_addr"] + " [host:port]")
@click.option("--advertised-kafka-addr", help=DESCRIPTIONS["advertised_kafka_addr"] + " [host:port]")
@click.option("--service", "services", multiple=True,
              help="add a service to run (repeatable) [module:Class]")
@click.option("--gc-freeze/--no-gc-freeze", default=None, help=DESCRIPTIONS["gc_freeze"])
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              help=DESCRIPTIONS["log_level"])
def command(config_file: str | None, services: tuple[str, ...], **flags) -> None:
    """Start a panda-runtime node: one pinned, uvloop-driven process per shard."""
    from .node import run_node

    try:
        config = load_config(config_file, flags)
        if services:
            config.services = [*config.services, *[s for s in services if s not in config.services]]
        code = run_node(config)
    except (ConfigError, MemoryBudgetError) as exc:
        _fail(str(exc))
    sys.exit(code)


def _fail(message: str) -> None:
    """The one-line error every invalid flag, file or env value ends in: exit code 2."""
    click.echo(f"panda-runtime: error: {' '.join(message.split())}", err=True)
    sys.exit(2)


def main() -> None:
    try:
        code = command.main(standalone_mode=False)
    except click.UsageError as exc:        # bad flag value, unknown flag: name it, one line
        _fail(exc.format_message())
    except click.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
