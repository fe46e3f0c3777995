"""Cluster metadata: the topic table state machine and the controller service."""

from .service import CommandResult, Controller
from .topic_table import (
    AlterTopicConfigs,
    Command,
    CommandError,
    CreatePartitions,
    CreateTopic,
    DeleteTopic,
    TopicInfo,
    TopicTable,
)

__all__ = [
    "AlterTopicConfigs", "Command", "CommandError", "CommandResult", "Controller",
    "CreatePartitions", "CreateTopic", "DeleteTopic", "TopicInfo", "TopicTable",
]
