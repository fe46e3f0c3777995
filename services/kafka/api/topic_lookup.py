"""Topics as the handlers see them: lookup by name or id in this shard's copy of the topic
table, the partition owners' service, Kafka's topic-name rules, and auto-creation (which goes
through the controller on shard 0). Reads the table; never changes it directly."""

from __future__ import annotations

import re
from uuid import UUID

from panda import runtime
from panda.net.kafka import ErrorCode
from panda.services.controller import Controller, CreateTopic, TopicInfo

from ..partition_manager import PartitionManager

TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


def controller() -> Controller:
    return runtime.service(Controller).local()


def topic(name: str | None) -> TopicInfo | None:
    return controller().table.topics.get(name) if name else None


def topic_by_id(topic_id: UUID) -> TopicInfo | None:
    hex_id = topic_id.hex
    for info in controller().table.topics.values():
        if info.topic_id == hex_id:
            return info
    return None


def partitions():
    """The PartitionManager service: `partitions().on(owner shard).produce(...)`."""
    return runtime.service(PartitionManager)


def invalid_topic_name(name: str | None) -> str | None:
    """Why a topic name is invalid (Kafka's rules), or None."""
    if not name or name in (".", ".."):
        return "topic name is empty, '.' or '..'"
    if not TOPIC_NAME.match(name):
        return f"topic name {name!r} has characters outside [a-zA-Z0-9._-] or is over 249 long"
    return None


async def auto_create(names: list[str], ctx) -> None:
    """Create the missing, validly named topics with the default partition count."""
    if not ctx.config.auto_create_topics_enabled:
        return
    missing = [n for n in dict.fromkeys(names) if topic(n) is None and not invalid_topic_name(n)]
    if missing:
        commands = [CreateTopic(name=n, partitions=ctx.config.default_topic_partitions)
                    for n in missing]
        await runtime.service(Controller).on(0).submit(commands)


def error_for_missing(name: str | None) -> ErrorCode:
    """The code for a topic that is not there: its name is invalid, or it does not exist."""
    return ErrorCode.INVALID_TOPIC_EXCEPTION if invalid_topic_name(name) else (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
