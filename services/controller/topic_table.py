"""The cluster's topic table as a deterministic state machine: commands in, state out.

Owns topic ids, partition counts, per-topic configs and the partition -> shard assignment
(balanced by partition count). apply() is pure and synchronous; persistence and broadcast
live in the Controller service, so a replicated log (pysyncobj, later) can drive the same code.
"""

from __future__ import annotations

import uuid

import msgspec

from .errors import InvalidPartitionsError, TopicExistsError, UnknownTopicError


class TopicInfo(msgspec.Struct, kw_only=True):
    name: str
    topic_id: str                       # uuid hex
    shards: list[int]                   # shard owning each partition (index = partition)
    configs: dict[str, str] = msgspec.field(default_factory=dict)
    internal: bool = False


class TopicTable(msgspec.Struct, kw_only=True):
    version: int = 0
    topics: dict[str, TopicInfo] = msgspec.field(default_factory=dict)

    def partition_counts(self, smp: int) -> list[int]:
        counts = [0] * smp
        for topic in self.topics.values():
            for shard in topic.shards:
                counts[shard % smp] += 1
        return counts


class CreateTopic(msgspec.Struct, tag=True):
    name: str
    partitions: int
    configs: dict[str, str] = msgspec.field(default_factory=dict)
    topic_id: str = ""


class DeleteTopic(msgspec.Struct, tag=True):
    name: str


class CreatePartitions(msgspec.Struct, tag=True):
    name: str
    count: int


class AlterTopicConfigs(msgspec.Struct, tag=True):
    name: str
    set: dict[str, str] = msgspec.field(default_factory=dict)
    delete: list[str] = msgspec.field(default_factory=list)
    replace: bool = False           # AlterConfigs replaces the whole set


Command = CreateTopic | DeleteTopic | CreatePartitions | AlterTopicConfigs


def apply(table: TopicTable, command: Command, smp: int) -> TopicTable:
    """The table after `command` (a new object; the input is not changed). Raises a
    CommandError (errors.py) when the command cannot apply."""
    topics = dict(table.topics)
    if isinstance(command, CreateTopic):
        if command.name in topics:
            raise TopicExistsError(f"topic {command.name!r} already exists")
        shards = _assign(table.partition_counts(smp), command.partitions)
        topics[command.name] = TopicInfo(
            name=command.name, topic_id=command.topic_id or uuid.uuid4().hex, shards=shards,
            configs=dict(command.configs), internal=command.name.startswith("__"))
    elif isinstance(command, DeleteTopic):
        if topics.pop(command.name, None) is None:
            raise UnknownTopicError(f"no topic {command.name!r}")
    elif isinstance(command, CreatePartitions):
        topic = _existing(topics, command.name)
        if command.count <= len(topic.shards):
            raise InvalidPartitionsError(f"topic {command.name!r} has {len(topic.shards)} "
                                         f"partitions; the new count must be larger than that")
        extra = _assign(table.partition_counts(smp), command.count - len(topic.shards))
        topics[command.name] = msgspec.structs.replace(topic, shards=topic.shards + extra)
    else:
        topic = _existing(topics, command.name)
        configs = {} if command.replace else dict(topic.configs)
        for key in command.delete:
            configs.pop(key, None)
        configs.update(command.set)
        topics[command.name] = msgspec.structs.replace(topic, configs=configs)
    return TopicTable(version=table.version + 1, topics=topics)


def fit_to_shards(table: TopicTable, smp: int) -> TopicTable:
    """The table with every partition owned by a shard that no longer exists (the node
    restarted with fewer shards) moved to the shards with the fewest partitions; the same
    table object when every owner exists. Partition data lives in one directory per node,
    so the new owner opens it where it is."""
    if all(shard < smp for t in table.topics.values() for shard in t.shards):
        return table
    counts = [0] * smp
    for t in table.topics.values():
        for shard in t.shards:
            if shard < smp:
                counts[shard] += 1
    topics = {}
    for name, t in table.topics.items():
        shards = list(t.shards)
        for index, shard in enumerate(shards):
            if shard >= smp:
                shards[index] = _assign(counts, 1)[0]
                counts[shards[index]] += 1
        topics[name] = msgspec.structs.replace(t, shards=shards) if shards != t.shards else t
    return TopicTable(version=table.version + 1, topics=topics)


def _existing(topics: dict[str, TopicInfo], name: str) -> TopicInfo:
    topic = topics.get(name)
    if topic is None:
        raise UnknownTopicError(f"no topic {name!r}")
    return topic


def _assign(counts: list[int], partitions: int) -> list[int]:
    """Each new partition to the shard with the fewest partitions (lowest id on ties)."""
    counts = list(counts)
    shards = []
    for _ in range(partitions):
        shard = min(range(len(counts)), key=lambda s: (counts[s], s))
        counts[shard] += 1
        shards.append(shard)
    return shards
