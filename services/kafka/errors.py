"""Kafka error codes the broker returns, by name, and the mapping from our layers' errors.

Operating errors of storage and the runtime become Kafka codes here, at the service edge only.
"""

from __future__ import annotations

from panda.runtime.errors import CrossShardError, MessageTooLargeError, ShardStoppedError
from panda.storage.errors import (
    CorruptBatchError,
    DiskFullError,
    LogClosedError,
    OffsetOutOfRangeError,
    StorageError,
)

CODES = {
    "UNKNOWN_SERVER_ERROR": -1,
    "NONE": 0,
    "OFFSET_OUT_OF_RANGE": 1,
    "CORRUPT_MESSAGE": 2,
    "UNKNOWN_TOPIC_OR_PARTITION": 3,
    "LEADER_NOT_AVAILABLE": 5,
    "NOT_LEADER_OR_FOLLOWER": 6,
    "REQUEST_TIMED_OUT": 7,
    "MESSAGE_TOO_LARGE": 10,
    "COORDINATOR_LOAD_IN_PROGRESS": 14,
    "COORDINATOR_NOT_AVAILABLE": 15,
    "NOT_COORDINATOR": 16,
    "INVALID_TOPIC_EXCEPTION": 17,
    "RECORD_LIST_TOO_LARGE": 18,
    "INVALID_REQUIRED_ACKS": 21,
    "INVALID_TIMESTAMP": 32,
    "UNSUPPORTED_VERSION": 35,
    "TOPIC_ALREADY_EXISTS": 36,
    "INVALID_PARTITIONS": 37,
    "INVALID_REPLICATION_FACTOR": 38,
    "INVALID_REPLICA_ASSIGNMENT": 39,
    "INVALID_CONFIG": 40,
    "INVALID_REQUEST": 42,
    "UNSUPPORTED_FOR_MESSAGE_FORMAT": 43,
    "POLICY_VIOLATION": 44,
    "KAFKA_STORAGE_ERROR": 56,
    "FENCED_LEADER_EPOCH": 74,
    "UNKNOWN_LEADER_EPOCH": 75,
    "INVALID_RECORD": 87,
    "UNKNOWN_TOPIC_ID": 100,
}


def code(name: str) -> int:
    return CODES[name]


def code_for(exc: BaseException) -> int:
    """The Kafka error code for an exception raised below the service edge."""
    if isinstance(exc, OffsetOutOfRangeError):
        return CODES["OFFSET_OUT_OF_RANGE"]
    if isinstance(exc, CorruptBatchError):
        return CODES["CORRUPT_MESSAGE"]
    if isinstance(exc, (DiskFullError, LogClosedError, StorageError)):
        return CODES["KAFKA_STORAGE_ERROR"]
    if isinstance(exc, MessageTooLargeError):
        return CODES["MESSAGE_TOO_LARGE"]
    if isinstance(exc, ShardStoppedError):
        return CODES["NOT_LEADER_OR_FOLLOWER"]
    if isinstance(exc, CrossShardError):
        return CODES["REQUEST_TIMED_OUT"]
    return CODES["UNKNOWN_SERVER_ERROR"]
