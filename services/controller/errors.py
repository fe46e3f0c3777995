"""The controller's operating errors: topic commands that cannot apply.

    ControllerError                 base of every error the controller raises on purpose
     └── CommandError               a command that cannot apply; `code` names the Kafka error
          ├── TopicExistsError      CreateTopic of a name the table holds (TOPIC_ALREADY_EXISTS)
          ├── UnknownTopicError     a command on a name the table lacks (UNKNOWN_TOPIC_OR_PARTITION)
          └── InvalidPartitionsError  CreatePartitions not above the current count
                                      (INVALID_PARTITIONS)

None is retriable: the same command on the same table fails the same way. The Kafka edge maps
`code` to the wire (a failed command reaches it as `CommandResult(error=code, message=...)`).
A command sent to a shard other than 0 is a programmer bug (an assert), not an error here.
"""

from __future__ import annotations


class ControllerError(Exception):
    """Base of the controller's operating errors."""

    retriable = False


class CommandError(ControllerError):
    """A command that cannot apply to the table; `code` names the Kafka error."""

    code = "INVALID_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class TopicExistsError(CommandError):
    code = "TOPIC_ALREADY_EXISTS"


class UnknownTopicError(CommandError):
    code = "UNKNOWN_TOPIC_OR_PARTITION"


class InvalidPartitionsError(CommandError):
    code = "INVALID_PARTITIONS"
