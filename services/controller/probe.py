"""Metrics of the controller, bumped by intent (`probe.command_applied()`).

Owns counters only; `register` exposes them with gauges over the topic table: the installed
table version on every shard (replicas catching up show as a lag), and on shard 0, which
applies commands, the topic and partition counts. Never reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from panda.runtime.metrics import MetricsRegistry

from .topic_table import TopicTable


class ControllerProbe:
    def __init__(self) -> None:
        self.commands_applied = 0
        self.commands_rejected = 0
        self.tables_installed = 0

    def command_applied(self) -> None:
        self.commands_applied += 1

    def command_rejected(self) -> None:
        self.commands_rejected += 1

    def table_installed(self) -> None:
        self.tables_installed += 1

    def register(
        self, metrics: MetricsRegistry, table: Callable[[], TopicTable], applies: bool
    ) -> None:
        """Export in `metrics`; `applies`: this shard applies commands (shard 0)."""
        metrics.gauge("panda_controller_table_version",
                      "Version of the topic table installed on this shard",
                      lambda: table().version)
        metrics.counter("panda_controller_tables_installed_total",
                        "Topic table versions installed on this shard",
                        lambda: self.tables_installed)
        if not applies:
            return
        metrics.gauge("panda_controller_topics", "Topics in the topic table",
                      lambda: len(table().topics))
        metrics.gauge("panda_controller_partitions", "Partitions of every topic in the table",
                      lambda: sum(len(t.shards) for t in table().topics.values()))
        metrics.counter("panda_controller_commands_applied_total",
                        "Topic commands applied to the table", lambda: self.commands_applied)
        metrics.counter("panda_controller_commands_rejected_total",
                        "Topic commands refused (topic exists, unknown topic, ...)",
                        lambda: self.commands_rejected)
