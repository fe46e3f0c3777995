"""Operating errors of the storage layer: one hierarchy, raised by storage/ and nothing else.

Owns the error types and their flags; it never maps them to Kafka error codes (the service
edge does that) and imports nothing from the rest of panda.

    StorageError                          base of every storage operating error (retriable=False)
    ├── CorruptBatchError                 bytes are not a valid v2 record batch
    │   ├── TruncatedBatchError           the buffer ends before the batch does (torn tail)
    │   ├── CrcMismatchError              stored CRC32C != CRC32C of the bytes
    │   └── CompressionError              records payload fails to (de)compress, or unknown codec
    │       └── DecompressedSizeExceededError   inflating would pass decompressed_bytes_max
    └── UnsupportedMessageFormatError     a legacy message set (magic 0 or 1), named by its magic

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
