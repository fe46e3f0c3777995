"""Operating errors of the group coordinator, and the Kafka code a client sees for each.

Owns the coordinator's failures. The group state machine answers with Kafka's codes directly
(`panda.net.kafka.ErrorCode`: they are its protocol; a client acts on REBALANCE_IN_PROGRESS,
not on an exception); storage and cross-shard failures are mapped here, at the edge, by
`code_for`.

    GroupError                 an operation failed with an ErrorCode (retriable per the code)
    └── CoordinatorStopped     the shard's coordinator stopped under a parked request
                               (COORDINATOR_NOT_AVAILABLE: the client finds it again)

    from below, by code_for():
    runtime CrossShardError    COORDINATOR_NOT_AVAILABLE (ShardStoppedError included)
    storage StorageError       COORDINATOR_NOT_AVAILABLE
    anything else              UNKNOWN_SERVER_ERROR

Handlers catch SERVICE_ERRORS only (these, cross-shard failures, storage failures) and answer
with `code_for(exc)`; anything else is a bug and fails the request loudly.
"""

from __future__ import annotations

from panda.net.kafka import ErrorCode
from panda.runtime.errors import CrossShardError
from panda.storage.errors import StorageError


class GroupError(Exception):
    """An operation of the coordinator failed with a Kafka error code."""

    def __init__(self, code: ErrorCode, message: str = "") -> None:
        super().__init__(f"{code.name}: {message}" if message else code.name)
        self.code = code

    @property
    def retriable(self) -> bool:
        return self.code.retriable


class CoordinatorStopped(GroupError):
    """The coordinator stopped while the request waited (the client finds it again)."""

    def __init__(self, message: str = "coordinator stopped") -> None:
        super().__init__(ErrorCode.COORDINATOR_NOT_AVAILABLE, message)

    def __reduce__(self):  # crosses shards by pickling: rebuild without the code argument
        return (CoordinatorStopped, (str(self),))


SERVICE_ERRORS = (GroupError, CrossShardError, StorageError)


def code_for(exc: BaseException) -> ErrorCode:
    """The code a client sees when the coordinator's storage or a shard hop failed."""
    if isinstance(exc, GroupError):
        return exc.code
    if isinstance(exc, (CrossShardError, StorageError)):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    return ErrorCode.UNKNOWN_SERVER_ERROR
