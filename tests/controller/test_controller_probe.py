"""The controller's metrics: every shard exports its installed table version; shard 0, which
applies commands, also the topic and partition counts and the commands applied and refused."""

from __future__ import annotations

from panda.runtime.metrics import MetricsRegistry
from panda.services.controller import ControllerProbe, CreateTopic, TopicTable
from panda.services.controller.topic_table import apply


def values(metrics: MetricsRegistry) -> dict[str, float]:
    return {f.name: f.samples[0].value for f in metrics.snapshot(shard=0)}


def test_shard_zero_exports_the_table_and_the_commands():
    probe, metrics = ControllerProbe(), MetricsRegistry()
    table = apply(TopicTable(), CreateTopic(name="a", partitions=3), smp=2)
    probe.register(metrics, lambda: table, applies=True)
    probe.command_applied()
    probe.command_rejected()
    probe.table_installed()
    assert values(metrics) == {
        "panda_controller_table_version": 1,
        "panda_controller_tables_installed_total": 1,
        "panda_controller_topics": 1,
        "panda_controller_partitions": 3,
        "panda_controller_commands_applied_total": 1,
        "panda_controller_commands_rejected_total": 1,
    }


def test_other_shards_export_only_their_replica_version():
    metrics = MetricsRegistry()
    ControllerProbe().register(metrics, TopicTable, applies=False)
    assert set(values(metrics)) == {
        "panda_controller_table_version", "panda_controller_tables_installed_total"}
