"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: topic configs by Kafka's names
(changes go through the controller); the broker's own settings are described read-only."""

from __future__ import annotations

from panda import runtime
from panda.net.kafka import ErrorCode
from panda.net.kafka.messages import (
    AlterConfigsResourceResponse,
    AlterConfigsResponse,
    DescribeConfigsResourceResult,
    DescribeConfigsResponse,
    DescribeConfigsResult,
    IncrementalAlterConfigsResourceResponse,
    IncrementalAlterConfigsResponse,
)
from panda.services.controller import AlterTopicConfigs, Controller

from .. import topic_config
from .topic_lookup import topic

TOPIC, BROKER = 2, 4
SOURCE_DYNAMIC_TOPIC, SOURCE_STATIC_BROKER, SOURCE_DEFAULT = 1, 4, 5
TYPE_STRING, TYPE_INT, TYPE_LONG = 2, 3, 5
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def _broker_configs(ctx) -> dict[str, str]:
    c = ctx.config
    return {"auto.create.topics.enable": str(c.auto_create_topics_enabled).lower(),
            "num.partitions": str(c.default_topic_partitions),
            "message.max.bytes": "1048588",
            "socket.request.max.bytes": str(c.request_bytes_max),
            "default.replication.factor": "1",
            "broker.id": str(ctx.node_id)}


def _entry(name: str, value: str, source: int, doc: bool, read_only: bool = False):
    kind = TYPE_LONG if name.endswith((".ms", ".bytes")) else TYPE_STRING
    return DescribeConfigsResourceResult(
        name=name, value=value, read_only=read_only, is_default=source == SOURCE_DEFAULT,
        config_source=source, config_type=kind,
        documentation=topic_config.DOCS.get(name) if doc else None)


async def describe_configs(ctx, header, body) -> DescribeConfigsResponse:
    results = []
    for resource in body.resources:
        keys = set(resource.configuration_keys) if resource.configuration_keys else None
        result = DescribeConfigsResult(resource_type=resource.resource_type,
                                       resource_name=resource.resource_name, error_message=None)
        if resource.resource_type == TOPIC:
            info = topic(resource.resource_name)
            if info is None:
                result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                result.error_message = f"no topic {resource.resource_name!r}"
            else:
                result.configs = [
                    _entry(k, v, SOURCE_DYNAMIC_TOPIC if k in info.configs else SOURCE_DEFAULT,
                           body.include_documentation)
                    for k, v in topic_config.effective(info.configs).items()
                    if keys is None or k in keys]
        elif resource.resource_type == BROKER:
            result.configs = [_entry(k, v, SOURCE_STATIC_BROKER, body.include_documentation, True)
                              for k, v in _broker_configs(ctx).items() if keys is None or k in keys]
        else:
            result.error_code = ErrorCode.INVALID_REQUEST
            result.error_message = f"resource type {resource.resource_type} is not supported"
        results.append(result)
    return DescribeConfigsResponse(results=results)


async def _alter(resources, validate_only: bool, build) -> list[tuple[int, str | None]]:
    """Apply per-resource topic config changes; build(resource, info) -> command or error."""
    outcomes: list[tuple[int, str | None]] = []
    commands, slots = [], []
    for resource in resources:
        if resource.resource_type != TOPIC:
            outcomes.append((ErrorCode.INVALID_REQUEST,
                             "only topic configs can be altered on this broker"))
            continue
        info = topic(resource.resource_name)
        if info is None:
            outcomes.append((ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                             f"no topic {resource.resource_name!r}"))
            continue
        command = build(resource, info)
        if isinstance(command, str):
            outcomes.append((ErrorCode.INVALID_CONFIG, command))
            continue
        outcomes.append((0, None))
        if not validate_only:
            commands.append(command)
            slots.append(len(outcomes) - 1)
    if commands:
        results = await runtime.service(Controller).on(0).submit(commands)
        for slot, result in zip(slots, results):
            if result.error:
                outcomes[slot] = (ErrorCode[result.error], result.message)
    return outcomes


def _replace(resource, info):
    values = {c.name: c.value for c in resource.configs if c.value is not None}
    for name, value in values.items():
        why = topic_config.invalid(name, value)
        if why:
            return why
    return AlterTopicConfigs(name=info.name, set=values, replace=True)


def _incremental(resource, info):
    values, deleted = {}, []
    for c in resource.configs:
        why = topic_config.invalid(c.name, c.value if c.config_operation == SET else None)
        if why:
            return why
        if c.config_operation == SET:
            values[c.name] = c.value
        elif c.config_operation == DELETE:
            deleted.append(c.name)
        else:
            return f"{c.name}: APPEND/SUBTRACT apply to list configs only"
    return AlterTopicConfigs(name=info.name, set=values, delete=deleted)


async def alter_configs(ctx, header, body) -> AlterConfigsResponse:
    outcomes = await _alter(body.resources, body.validate_only, _replace)
    return AlterConfigsResponse(responses=[
        AlterConfigsResourceResponse(error_code=e, error_message=m, resource_type=r.resource_type,
                                     resource_name=r.resource_name)
        for r, (e, m) in zip(body.resources, outcomes)])


async def incremental_alter_configs(ctx, header, body) -> IncrementalAlterConfigsResponse:
    outcomes = await _alter(body.resources, body.validate_only, _incremental)
    return IncrementalAlterConfigsResponse(responses=[
        IncrementalAlterConfigsResourceResponse(
            error_code=e, error_message=m, resource_type=r.resource_type,
            resource_name=r.resource_name)
        for r, (e, m) in zip(body.resources, outcomes)])
