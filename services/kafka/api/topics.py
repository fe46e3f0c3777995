"""CreateTopics, DeleteTopics, CreatePartitions: validated here, applied by the controller."""

from __future__ import annotations

from collections import Counter
from uuid import UUID

from panda import runtime
from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import (
    CreatableTopicConfigs,
    CreatableTopicResult,
    CreatePartitionsResponse,
    CreatePartitionsTopicResult,
    CreateTopicsResponse,
    DeletableTopicResult,
    DeleteTopicsResponse,
)
from panda.services.controller import Controller, CreatePartitions, CreateTopic, DeleteTopic

from .. import topic_config
from .topic_lookup import invalid_topic_name, topic, topic_by_id

PARTITIONS_MAX = 100_000
SOURCE_DYNAMIC_TOPIC, SOURCE_DEFAULT = 1, 5          # DescribeConfigs config sources


def _check_create(t, ctx) -> tuple[ErrorCode, str] | None:
    """(error code, message) when the topic cannot be created as asked."""
    why = invalid_topic_name(t.name)
    if why:
        return ErrorCode.INVALID_TOPIC_EXCEPTION, why
    if t.assignments:
        return ErrorCode.INVALID_REPLICA_ASSIGNMENT, "manual replica assignment is not supported"
    if t.num_partitions == 0 or t.num_partitions < -1 or t.num_partitions > PARTITIONS_MAX:
        return ErrorCode.INVALID_PARTITIONS, f"partition count {t.num_partitions} is out of range"
    if t.replication_factor not in (-1, 1):
        return (ErrorCode.INVALID_REPLICATION_FACTOR,
                f"replication factor {t.replication_factor} is larger than the 1 broker")
    for config in t.configs:
        why = topic_config.invalid(config.name, config.value)
        if why:
            return ErrorCode.INVALID_CONFIG, why
    if topic(t.name) is not None:
        return ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {t.name!r} already exists"
    return None


async def create_topics(ctx, header, body) -> CreateTopicsResponse:
    """Check each topic, then submit the valid ones to the controller at once. A name listed
    twice is refused (INVALID_REQUEST) and not created, as Kafka does; validate_only answers
    what would be created, requested configs included, and creates nothing."""
    listed = Counter(t.name for t in body.topics)
    results: dict[str, CreatableTopicResult] = {}
    requested: dict[str, dict[str, str]] = {}
    commands = []
    for t in body.topics:
        problem = _check_create(t, ctx) if listed[t.name] == 1 else (
            ErrorCode.INVALID_REQUEST, f"topic {t.name!r} is listed more than once")
        if problem:
            results[t.name] = CreatableTopicResult(name=t.name, error_code=problem[0],
                                                   error_message=problem[1])
            continue
        partitions = (ctx.config.default_topic_partitions if t.num_partitions == -1
                      else t.num_partitions)
        requested[t.name] = {c.name: c.value for c in t.configs if c.value is not None}
        results[t.name] = CreatableTopicResult(name=t.name, num_partitions=partitions,
                                               replication_factor=1, error_message=None)
        if not body.validate_only:
            commands.append(CreateTopic(name=t.name, partitions=partitions,
                                        configs=requested[t.name]))
    if commands:
        outcome = await runtime.service(Controller).on(0).submit(commands)
        for command, result in zip(commands, outcome):
            if result.error:
                results[command.name] = CreatableTopicResult(
                    name=command.name, error_code=ErrorCode[result.error],
                    error_message=result.message)
    for name, result in results.items():
        if not result.error_code:
            _describe_created(result, requested[name], None if body.validate_only else topic(name))
    return CreateTopicsResponse(topics=list(results.values()))


def _describe_created(result: CreatableTopicResult, requested: dict[str, str], info) -> None:
    """Fill in the topic id (once created) and every config with its source."""
    configs = info.configs if info is not None else requested
    if info is not None:
        result.topic_id = UUID(hex=info.topic_id)
    result.configs = [
        CreatableTopicConfigs(name=k, value=v,
                              config_source=(SOURCE_DYNAMIC_TOPIC if k in configs
                                             else SOURCE_DEFAULT))
        for k, v in topic_config.effective(configs).items()]


async def delete_topics(ctx, header, body) -> DeleteTopicsResponse:
    wanted = [(s.name, s.topic_id) for s in body.topics] or [(n, None) for n in body.topic_names]
    responses, commands = [], []
    for name, topic_id in wanted:
        info = topic(name) if name else topic_by_id(topic_id) if topic_id else None
        if info is None:
            responses.append(DeletableTopicResult(
                name=name, error_code=ErrorCode.UNKNOWN_TOPIC_ID if name is None
                else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
        else:
            commands.append(DeleteTopic(name=info.name))
            responses.append(DeletableTopicResult(name=info.name,
                                                  topic_id=UUID(hex=info.topic_id)))
    if commands:
        await runtime.service(Controller).on(0).submit(commands)
    return DeleteTopicsResponse(responses=responses)


async def create_partitions(ctx, header, body) -> CreatePartitionsResponse:
    results = []
    commands = []
    for t in body.topics:
        info = topic(t.name)
        if info is None:
            results.append(CreatePartitionsTopicResult(
                name=t.name, error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                error_message=f"no topic {t.name!r}"))
        elif t.assignments:
            results.append(CreatePartitionsTopicResult(
                name=t.name, error_code=ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                error_message="manual replica assignment is not supported"))
        elif t.count <= len(info.shards) or t.count > PARTITIONS_MAX:
            results.append(CreatePartitionsTopicResult(
                name=t.name, error_code=ErrorCode.INVALID_PARTITIONS,
                error_message=f"topic has {len(info.shards)} partitions; asked for {t.count}"))
        else:
            if not body.validate_only:
                commands.append(CreatePartitions(name=t.name, count=t.count))
            results.append(CreatePartitionsTopicResult(name=t.name, error_code=0))
    if commands:
        outcome = await runtime.service(Controller).on(0).submit(commands)
        by_name = {c.name: r for c, r in zip(commands, outcome)}
        for result in results:
            failed = by_name.get(result.name)
            if failed is not None and failed.error:
                result.error_code, result.error_message = ErrorCode[failed.error], failed.message
    return CreatePartitionsResponse(results=results)
