"""Operating errors of the storage layer: one hierarchy, raised by storage/ and nothing else.

Owns the error types and their flags; it never maps them to Kafka error codes (the service
edge does that) and imports nothing from the rest of panda.

    StorageError                          base of every storage operating error (retriable=False)
    ├── CorruptBatchError                 bytes are not a valid v2 record batch
    │   ├── TruncatedBatchError           the buffer ends before the batch does (torn tail)
    │   ├── CrcMismatchError              stored CRC32C != CRC32C of the bytes
    │   └── CompressionError              records payload fails to (de)compress, or unknown codec
    │       └── DecompressedSizeExceededError   inflating would pass decompressed_bytes_max
    ├── UnsupportedMessageFormatError     a legacy message set (magic 0 or 1), named by its magic
    ├── StorageIOError                    a file operation failed (EIO...): the log fails closed
    │   └── DiskFullError                 ENOSPC / EDQUOT: retriable; writes resume once
    │                                     space returns
    ├── OffsetOutOfRangeError             an offset below the log start or past the log end
    ├── LogTruncatedError                 an append was truncated away before it became durable
    └── LogClosedError                    the partition log (or its manager) is closed

A programmer bug is an assert / InternalError, never one of these.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of the storage layer's operating errors."""

    retriable: bool = False


class CorruptBatchError(StorageError):
    """The bytes are not a valid v2 record batch (bad length, magic, varint, record layout...)."""


class TruncatedBatchError(CorruptBatchError):
    """The buffer ends before the batch it starts does: a torn tail or a short read."""


class CrcMismatchError(CorruptBatchError):
    """The CRC32C stored in the batch header does not match the batch bytes."""

    def __init__(self, stored: int, computed: int) -> None:
        super().__init__(f"batch crc mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")
        self.stored = stored
        self.computed = computed


class CompressionError(CorruptBatchError):
    """A records payload could not be decompressed (or compressed), or names an unknown codec."""


class DecompressedSizeExceededError(CompressionError):
    """Decompressing would produce more than decompressed_bytes_max bytes (zip-bomb guard)."""


class UnsupportedMessageFormatError(StorageError):
    """A legacy message set (magic 0 or 1): only v2 record batches are stored."""

    def __init__(self, magic: int) -> None:
        super().__init__(
            f"unsupported message format: magic {magic} (legacy message set); "
            "only magic 2 record batches are supported"
        )
        self.magic = magic


class StorageIOError(StorageError):
    """A file operation failed (EIO, EBADF...). Unacknowledged appends are dropped; the log
    refuses writes until reopened. Mapped to KAFKA_STORAGE_ERROR at the service edge."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class DiskFullError(StorageIOError):
    """No space left (ENOSPC / EDQUOT). Appends not yet durable are dropped and fail with this;
    everything already acknowledged stays; the log accepts writes again once space returns."""

    retriable = True


class OffsetOutOfRangeError(StorageError):
    """The offset lies below the log start offset or past the log end offset."""

    def __init__(self, offset: int, start_offset: int, end_offset: int) -> None:
        super().__init__(f"offset {offset} out of range [{start_offset}, {end_offset})")
        self.offset = offset
        self.start_offset = start_offset
        self.end_offset = end_offset


class LogTruncatedError(StorageError):
    """An append was truncated away (Raft truncation) before it became durable."""

    retriable = True


class LogClosedError(StorageError):
    """The partition log, or the manager that owns it, is closed."""
