"""The storage layer: Kafka v2 record batches and the partition logs of a shard (README.md)."""

from panda.storage.config import StorageConfig, TopicConfig
from panda.storage.errors import (
    CorruptBatchError,
    DiskFullError,
    LogClosedError,
    LogTruncatedError,
    OffsetOutOfRangeError,
    StorageError,
    StorageIOError,
)
from panda.storage.log_manager import LogManager
from panda.storage.log_reads import ReadResult
from panda.storage.partition_log import PartitionLog

__all__ = [
    "CorruptBatchError",
    "DiskFullError",
    "LogClosedError",
    "LogManager",
    "LogTruncatedError",
    "OffsetOutOfRangeError",
    "PartitionLog",
    "ReadResult",
    "StorageConfig",
    "StorageError",
    "StorageIOError",
    "TopicConfig",
]
