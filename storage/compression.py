"""Record-batch payload codecs (gzip, snappy, lz4, zstd) on cramjam, with bounded inflation.

Owns the byte formats Kafka clients put inside a compressed batch: gzip members, raw or
xerial-framed snappy, LZ4 frames (independent blocks), zstd frames. Invariant: decompress()
never allocates more than decompressed_bytes_max for its output, whatever the input claims;
every failure is a CompressionError (or DecompressedSizeExceededError), never cramjam's own.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

import cramjam

from panda.storage.errors import CompressionError, DecompressedSizeExceededError

DECOMPRESSED_BYTES_MAX_DEFAULT: Final = 64 * 1024 * 1024
INFLATE_BUFFER_BYTES_MIN: Final = 64 * 1024  # first output guess when the input gives no size
INFLATE_GROWTH_FACTOR: Final = 4  # the output guess grows by this until the limit
INFLATE_HINT_RATIO_MAX: Final = 1024  # a size hint above this many times the input is ignored
XERIAL_BLOCK_BYTES: Final = 32 * 1024  # uncompressed bytes per xerial snappy block (its default)

_XERIAL_MAGIC: Final = b"\x82SNAPPY\x00"
_XERIAL_HEADER = struct.Struct(">8sii")  # magic, version, min compatible version
_XERIAL_HEADER_BYTES: Final = _XERIAL_HEADER.size
_XERIAL_VERSION: Final = 1
_BLOCK_LENGTH = struct.Struct(">i")
_OVERFLOW_TEXT: Final = "failed to write whole buffer"  # cramjam: output buffer too small

Buffer = bytes | bytearray | memoryview


class Compression(enum.IntEnum):
    """Codec ids of the batch attributes' low three bits."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


def compress(codec: int, data: Buffer, *, level: int | None = None) -> bytes:
    """Compress a records payload the way Kafka's clients do for `codec`."""
    if codec == Compression.NONE:
        return bytes(data)
    if codec == Compression.GZIP:
        return bytes(cramjam.gzip.compress(data, level=level))
    if codec == Compression.SNAPPY:
        return _xerial_compress(data)
    if codec == Compression.LZ4:
        return _lz4_compress(data, level)
    if codec == Compression.ZSTD:
        return bytes(cramjam.zstd.compress(data, level=level))
    raise ValueError(f"unknown compression codec {codec}")


def _lz4_compress(data: Buffer, level: int | None) -> bytes:
    # Kafka's LZ4 readers want independent blocks (no linked blocks), as its own writer makes.
    compressor = cramjam.lz4.Compressor(level=level, content_checksum=False, block_linked=False)
    compressor.compress(data if isinstance(data, bytes) else bytes(data))
    return bytes(compressor.finish())


def _xerial_compress(data: Buffer) -> bytes:
    view = memoryview(data)
    parts = [_XERIAL_HEADER.pack(_XERIAL_MAGIC, _XERIAL_VERSION, _XERIAL_VERSION)]
    for start in range(0, len(view), XERIAL_BLOCK_BYTES):
        block = bytes(cramjam.snappy.compress_raw(view[start : start + XERIAL_BLOCK_BYTES]))
        parts.append(_BLOCK_LENGTH.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def decompress(
    codec: int, data: Buffer, *, decompressed_bytes_max: int = DECOMPRESSED_BYTES_MAX_DEFAULT
) -> Buffer:
    """Inflate a records payload; the result is at most decompressed_bytes_max bytes.

    Raises DecompressedSizeExceededError past the limit, CompressionError on bad input.
    """
    if codec == Compression.NONE:
        return data
    if codec == Compression.SNAPPY:
        return _snappy_decompress(data, decompressed_bytes_max)
    if codec == Compression.GZIP:
        return _inflate(cramjam.gzip, "gzip", data, decompressed_bytes_max, _gzip_size_hint(data))
    if codec == Compression.LZ4:
        return _inflate(cramjam.lz4, "lz4", data, decompressed_bytes_max, _lz4_size_hint(data))
    if codec == Compression.ZSTD:
        return _inflate(cramjam.zstd, "zstd", data, decompressed_bytes_max, _zstd_size_hint(data))
    raise CompressionError(f"unknown compression codec {codec}")


def _inflate(module: object, name: str, data: Buffer, limit: int, hint: int) -> Buffer:
    """Decompress into a buffer that starts at the size hint and grows up to `limit`."""
    if hint > INFLATE_HINT_RATIO_MAX * len(data):
        hint = 0  # a header may lie: no large allocation before the data proves itself
    size = min(limit, max(hint, INFLATE_BUFFER_BYTES_MIN, INFLATE_GROWTH_FACTOR * len(data)))
    while True:
        out = bytearray(size)
        try:
            written = int(module.decompress_into(data, out))  # type: ignore[attr-defined]
        except Exception as error:  # cramjam raises DecompressionError, or others on odd input
            if _OVERFLOW_TEXT not in str(error):
                raise CompressionError(f"{name}: {error}") from error
            if size >= limit:
                raise _too_big(name, limit) from None
            size = min(limit, size * INFLATE_GROWTH_FACTOR)
            continue
        return out if written == size else memoryview(out)[:written]


def _too_big(name: str, limit: int) -> DecompressedSizeExceededError:
    return DecompressedSizeExceededError(
        f"{name}: records payload inflates past decompressed_bytes_max={limit}"
    )


def _gzip_size_hint(data: Buffer) -> int:
    # ISIZE trailer: uncompressed length mod 2**32 of the last member; only a first guess.
    return int.from_bytes(data[-4:], "little") if len(data) >= 18 else 0


def _lz4_size_hint(data: Buffer) -> int:
    # Frame: magic(4) FLG(1) BD(1) [content size u64 LE when FLG bit 3].
    if len(data) >= 14 and data[4] & 0x08:
        return int.from_bytes(data[6:14], "little")
    return 0


def _zstd_size_hint(data: Buffer) -> int:
    """Frame_Content_Size of a zstd frame header, 0 when absent."""
    if len(data) < 6:
        return 0
    descriptor = data[4]
    single_segment = (descriptor >> 5) & 1
    fcs_flag = descriptor >> 6
    fcs_bytes = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    start = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
    if fcs_bytes == 0 or len(data) < start + fcs_bytes:
        return 0
    size = int.from_bytes(data[start : start + fcs_bytes], "little")
    return size + 256 if fcs_bytes == 2 else size


def _snappy_decompress(data: Buffer, limit: int) -> Buffer:
    if len(data) >= _XERIAL_HEADER_BYTES and bytes(data[:8]) == _XERIAL_MAGIC:
        return _xerial_decompress(memoryview(data), limit)
    size = _snappy_raw_length(data)
    if size > limit:
        raise _too_big("snappy", limit)
    out = bytearray(size)
    _snappy_raw_into(data, out)
    return out


def _snappy_raw_length(block: Buffer) -> int:
    try:
        return int(cramjam.snappy.decompress_raw_len(block))
    except Exception as error:
        raise CompressionError(f"snappy: {error}") from error


def _snappy_raw_into(block: Buffer, out: bytearray | memoryview) -> None:
    try:
        written = int(cramjam.snappy.decompress_raw_into(block, out))
    except Exception as error:
        raise CompressionError(f"snappy: {error}") from error
    if written != len(out):
        raise CompressionError(f"snappy: block inflated to {written} bytes, not {len(out)}")


def _xerial_decompress(view: memoryview, limit: int) -> bytearray:
    """Xerial framing (Kafka's Java clients): 16-byte header, then [i32 length][raw snappy]*."""
    blocks = _xerial_blocks(view)
    sizes = []
    total = 0
    for block in blocks:
        sizes.append(_snappy_raw_length(block))
        total += sizes[-1]
        if total > limit:
            raise _too_big("snappy", limit)
    out = bytearray(total)
    target = memoryview(out)
    position = 0
    for block, size in zip(blocks, sizes, strict=True):
        _snappy_raw_into(block, target[position : position + size])
        position += size
    return out


def _xerial_blocks(view: memoryview) -> list[memoryview]:
    blocks = []
    position = _XERIAL_HEADER_BYTES
    while position < len(view):
        if len(view) - position < _BLOCK_LENGTH.size:
            raise CompressionError("snappy: xerial block length cut short")
        (length,) = _BLOCK_LENGTH.unpack_from(view, position)
        position += _BLOCK_LENGTH.size
        if length < 0 or length > len(view) - position:
            raise CompressionError(f"snappy: xerial block of {length} bytes overruns the payload")
        blocks.append(view[position : position + length])
        position += length
    return blocks
