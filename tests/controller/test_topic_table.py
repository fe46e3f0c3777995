"""The controller's topic table as a pure state machine: commands in, a new table out.

Plain unit tests, no processes: create, delete, add partitions, alter configs, refused
commands (with their Kafka error names), shard balance, refitting to fewer shards, and replay:
the same commands, persisted and read back, rebuild the same table.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panda.services.controller import (
    AlterTopicConfigs,
    Command,
    CommandError,
    ControllerError,
    CreatePartitions,
    CreateTopic,
    DeleteTopic,
    InvalidPartitionsError,
    TopicExistsError,
    TopicTable,
    UnknownTopicError,
)
from panda.services.controller.topic_table import apply, fit_to_shards

SMP = 4


def replay(commands: list[Command], smp: int = SMP, table: TopicTable | None = None) -> TopicTable:
    table = TopicTable() if table is None else table
    for command in commands:
        table = apply(table, command, smp)
    return table


def test_create_topic_spreads_partitions_over_the_least_loaded_shards():
    table = replay([CreateTopic(name="a", partitions=3), CreateTopic(name="b", partitions=3)])
    assert table.version == 2
    assert table.topics["a"].shards == [0, 1, 2]
    assert table.topics["b"].shards == [3, 0, 1]        # shard 3 had none; then lowest id
    assert table.partition_counts(SMP) == [2, 2, 1, 1]


def test_create_topic_keeps_configs_id_and_marks_internal_topics():
    table = replay([
        CreateTopic(name="orders", partitions=1, configs={"cleanup.policy": "compact"},
                    topic_id="ab" * 16),
        CreateTopic(name="__consumer_offsets", partitions=2),
    ])
    orders = table.topics["orders"]
    assert orders.configs == {"cleanup.policy": "compact"} and orders.topic_id == "ab" * 16
    assert not orders.internal and table.topics["__consumer_offsets"].internal
    generated = table.topics["__consumer_offsets"].topic_id
    assert len(generated) == 32 and int(generated, 16) >= 0     # a uuid4 in hex


def test_apply_leaves_its_input_table_unchanged():
    before = replay([CreateTopic(name="a", partitions=1, configs={"x": "1"})])
    snapshot = msgspec.json.encode(before)
    for command in (CreatePartitions(name="a", count=3),
                    AlterTopicConfigs(name="a", set={"x": "2"}),
                    DeleteTopic(name="a"), CreateTopic(name="b", partitions=2)):
        apply(before, command, SMP)
    assert msgspec.json.encode(before) == snapshot


def test_delete_topic_frees_its_shards_for_the_next_one():
    table = replay([CreateTopic(name="a", partitions=2), CreateTopic(name="b", partitions=1),
                    DeleteTopic(name="a")])
    assert list(table.topics) == ["b"] and table.version == 3
    assert replay([CreateTopic(name="c", partitions=2)], table=table).topics["c"].shards == [0, 1]


def test_create_partitions_appends_shards_and_keeps_the_existing_ones():
    created = replay([CreateTopic(name="a", partitions=2, configs={"x": "1"})])
    table = apply(created, CreatePartitions(name="a", count=5), SMP)
    assert table.topics["a"].shards == [0, 1, 2, 3, 0]
    assert table.topics["a"].topic_id == created.topics["a"].topic_id
    assert table.topics["a"].configs == {"x": "1"}


def test_alter_configs_sets_deletes_and_replaces():
    table = replay([CreateTopic(name="a", partitions=1, configs={"x": "1", "y": "2"})])
    altered = apply(table, AlterTopicConfigs(name="a", set={"z": "3"}, delete=["x"]), SMP)
    assert altered.topics["a"].configs == {"y": "2", "z": "3"}
    replaced = apply(table, AlterTopicConfigs(name="a", set={"z": "3"}, replace=True), SMP)
    assert replaced.topics["a"].configs == {"z": "3"}
    assert table.topics["a"].configs == {"x": "1", "y": "2"}


@pytest.mark.parametrize("command, error, code", [
    (CreateTopic(name="a", partitions=1), TopicExistsError, "TOPIC_ALREADY_EXISTS"),
    (DeleteTopic(name="nope"), UnknownTopicError, "UNKNOWN_TOPIC_OR_PARTITION"),
    (CreatePartitions(name="nope", count=2), UnknownTopicError, "UNKNOWN_TOPIC_OR_PARTITION"),
    (CreatePartitions(name="a", count=2), InvalidPartitionsError, "INVALID_PARTITIONS"),
    (CreatePartitions(name="a", count=1), InvalidPartitionsError, "INVALID_PARTITIONS"),
    (AlterTopicConfigs(name="nope"), UnknownTopicError, "UNKNOWN_TOPIC_OR_PARTITION"),
])
def test_invalid_commands_raise_their_error_and_kafka_code(command, error, code):
    table = replay([CreateTopic(name="a", partitions=2)])
    with pytest.raises(error) as info:
        apply(table, command, SMP)
    assert isinstance(info.value, CommandError) and isinstance(info.value, ControllerError)
    assert info.value.code == code and not info.value.retriable
    assert command.name in str(info.value)


def test_fit_to_shards_moves_only_partitions_of_missing_shards():
    table = replay([CreateTopic(name="a", partitions=4), CreateTopic(name="b", partitions=2)])
    assert fit_to_shards(table, SMP) is table
    fitted = fit_to_shards(table, 2)
    assert fitted.version == table.version + 1
    assert fitted.topics["a"].shards[:2] == [0, 1] and fitted.topics["b"].shards == [0, 1]
    assert all(shard < 2 for t in fitted.topics.values() for shard in t.shards)
    assert sorted(fitted.partition_counts(2)) == [3, 3]


def test_replay_of_persisted_commands_gives_the_same_table():
    commands: list[Command] = [
        CreateTopic(name="a", partitions=3, topic_id="a" * 32, configs={"retention.ms": "1"}),
        CreateTopic(name="b", partitions=1, topic_id="b" * 32),
        CreatePartitions(name="a", count=6),
        AlterTopicConfigs(name="a", set={"segment.bytes": "1024"}, delete=["retention.ms"]),
        DeleteTopic(name="b"),
        CreateTopic(name="c", partitions=2, topic_id="c" * 32),
    ]
    persisted = msgspec.msgpack.encode(commands)
    replayed = replay(msgspec.msgpack.decode(persisted, type=list[Command]))
    assert replayed == replay(commands)
    table_file = msgspec.json.encode(replayed)           # what the controller writes
    assert msgspec.json.decode(table_file, type=TopicTable) == replayed


_names = st.sampled_from(["a", "b", "c", "__internal"])
_commands = st.one_of(
    st.builds(CreateTopic, name=_names, partitions=st.integers(1, 5),
              topic_id=st.sampled_from(["1" * 32, "2" * 32])),
    st.builds(DeleteTopic, name=_names),
    st.builds(CreatePartitions, name=_names, count=st.integers(1, 8)),
    st.builds(AlterTopicConfigs, name=_names,
              set=st.dictionaries(st.sampled_from(["x", "y"]), st.sampled_from(["1", "2"])),
              delete=st.lists(st.sampled_from(["x", "y"]), max_size=2), replace=st.booleans()),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_commands, max_size=20), st.integers(1, 4))
def test_any_command_sequence_replays_identically_and_keeps_the_table_sound(commands, smp):
    def run(sequence: list[Command]) -> tuple[TopicTable, list[str]]:
        table, outcomes = TopicTable(), []
        for command in sequence:
            try:
                table = apply(table, command, smp)
                outcomes.append("")
            except CommandError as exc:
                outcomes.append(exc.code)
        return table, outcomes

    table, outcomes = run(commands)
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(commands), type=list[Command])
    assert run(decoded) == (table, outcomes)
    assert table.version == outcomes.count("")
    counts = table.partition_counts(smp)
    assert sum(counts) == sum(len(t.shards) for t in table.topics.values())
    assert all(0 <= shard < smp for t in table.topics.values() for shard in t.shards)
    if not any(isinstance(c, DeleteTopic) for c in commands):  # only added: stays balanced
        assert max(counts) - min(counts) <= 1
