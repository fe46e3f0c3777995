"""Cluster metadata: the topic table state machine and the controller service.

Kit: `errors.py` (ControllerError and below), `probe.py` (panda_controller_* metrics), and a
logger whose lines carry `topic=`.
"""

from .errors import (
    CommandError,
    ControllerError,
    InvalidPartitionsError,
    TopicExistsError,
    UnknownTopicError,
)
from .probe import ControllerProbe
from .service import CommandResult, Controller
from .topic_table import (
    AlterTopicConfigs,
    Command,
    CreatePartitions,
    CreateTopic,
    DeleteTopic,
    TopicInfo,
    TopicTable,
)

__all__ = [
    "AlterTopicConfigs", "Command", "CommandError", "CommandResult", "Controller",
    "ControllerError", "ControllerProbe", "CreatePartitions", "CreateTopic", "DeleteTopic",
    "InvalidPartitionsError", "TopicExistsError", "TopicInfo", "TopicTable", "UnknownTopicError",
]
