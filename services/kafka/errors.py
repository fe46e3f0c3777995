"""The broker's operating errors, and the Kafka error code a client sees for each of them and
for the errors of the layers below; mapped here, at the service edge only.

    BrokerError                    the broker refuses an operation with an ErrorCode
    └── BatchRejected              a produced record set fails validation (size, CRC, format)

    from below, by code_for():
    storage StorageError
    ├── OffsetOutOfRangeError      OFFSET_OUT_OF_RANGE
    ├── CorruptBatchError          CORRUPT_MESSAGE
    └── any other                  KAFKA_STORAGE_ERROR (disk full, I/O error, log closed)
    runtime CrossShardError
    ├── MessageTooLargeError       MESSAGE_TOO_LARGE
    ├── ShardStoppedError          NOT_LEADER_OR_FOLLOWER (the owner shard is going away)
    └── any other                  REQUEST_TIMED_OUT
    anything else                  UNKNOWN_SERVER_ERROR

Whether a client may retry is the code's business (`ErrorCode.retriable`), not ours.
"""

from __future__ import annotations

from panda.net.kafka import ErrorCode
from panda.runtime.errors import CrossShardError, MessageTooLargeError, ShardStoppedError
from panda.storage.errors import CorruptBatchError, OffsetOutOfRangeError, StorageError


class BrokerError(Exception):
    """The broker refuses an operation with a Kafka error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def retriable(self) -> bool:
        return self.code.retriable


class BatchRejected(BrokerError):
    """A produced record set is refused before any of it is appended."""


def code_for(exc: BaseException) -> ErrorCode:
    """The Kafka error code for an exception raised below the service edge."""
    if isinstance(exc, BrokerError):
        return exc.code
    if isinstance(exc, OffsetOutOfRangeError):
        return ErrorCode.OFFSET_OUT_OF_RANGE
    if isinstance(exc, CorruptBatchError):
        return ErrorCode.CORRUPT_MESSAGE
    if isinstance(exc, StorageError):
        return ErrorCode.KAFKA_STORAGE_ERROR
    if isinstance(exc, MessageTooLargeError):
        return ErrorCode.MESSAGE_TOO_LARGE
    if isinstance(exc, ShardStoppedError):
        return ErrorCode.NOT_LEADER_OR_FOLLOWER
    if isinstance(exc, CrossShardError):
        return ErrorCode.REQUEST_TIMED_OUT
    return ErrorCode.UNKNOWN_SERVER_ERROR
