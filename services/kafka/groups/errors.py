"""Error codes of the group coordinator: the Kafka codes its APIs answer with, by name.

Owns the coordinator's vocabulary of failures. The group state machine speaks Kafka's codes
directly (they are its protocol: a client acts on REBALANCE_IN_PROGRESS, not on an exception);
storage and cross-shard failures are mapped here, at the edge, by `code_for`.

    GroupError                 an operation failed with one of the codes below
    └── CoordinatorStopped     the shard's coordinator stopped under a parked request

Handlers catch SERVICE_ERRORS only (these, cross-shard failures, storage failures) and answer
with `code_for(exc)`; anything else is a bug and fails the request loudly.
"""

from __future__ import annotations

import enum

from panda.runtime.errors import CrossShardError, ShardStoppedError
from panda.storage.errors import StorageError


class Errc(enum.IntEnum):
    """Kafka error codes the coordinator returns (values from the Kafka protocol)."""

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    INVALID_COMMIT_OFFSET_SIZE = 28
    OFFSET_METADATA_TOO_LARGE = 12
    INVALID_REQUEST = 42
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    MEMBER_ID_REQUIRED = 79
    FENCED_INSTANCE_ID = 82
    GROUP_MAX_SIZE_REACHED = 81
    GROUP_SUBSCRIBED_TO_TOPIC = 86


RETRIABLE = frozenset({
    Errc.COORDINATOR_LOAD_IN_PROGRESS, Errc.COORDINATOR_NOT_AVAILABLE, Errc.NOT_COORDINATOR,
})


class GroupError(Exception):
    """An operation of the coordinator failed with a Kafka error code."""

    def __init__(self, code: Errc, message: str = "") -> None:
        super().__init__(f"{code.name}: {message}" if message else code.name)
        self.code = code

    @property
    def retriable(self) -> bool:
        return self.code in RETRIABLE


class CoordinatorStopped(GroupError):
    """The coordinator stopped while the request waited (the client finds it again)."""

    def __init__(self, message: str = "coordinator stopped") -> None:
        super().__init__(Errc.COORDINATOR_NOT_AVAILABLE, message)

    def __reduce__(self):  # crosses shards by pickling: rebuild without the code argument
        return (CoordinatorStopped, (str(self),))


SERVICE_ERRORS = (GroupError, CrossShardError, StorageError)


def code_for(exc: BaseException) -> Errc:
    """The code a client sees when the coordinator's storage or a shard hop failed."""
    if isinstance(exc, GroupError):
        return exc.code
    if isinstance(exc, (ShardStoppedError, CrossShardError)):
        return Errc.COORDINATOR_NOT_AVAILABLE
    if isinstance(exc, StorageError):
        return Errc.COORDINATOR_NOT_AVAILABLE
    return Errc.UNKNOWN_SERVER_ERROR
