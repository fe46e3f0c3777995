"""Primitive readers and writers the generated codecs call: strings, bytes, records,
unsigned varints, tagged-field sections.

Invariant: every read is bounded by the end of the buffer before anything is sliced
or allocated; readers return (value, new_pos), writers return new_pos. Never copies a
`records` payload on decode (it comes back as a memoryview slice).
"""

from __future__ import annotations

from struct import Struct, pack_into, unpack_from
from struct import error as StructError
from uuid import UUID

from panda.net.kafka.errors import EncodeError, ProtocolError

__all__ = [
    "ARRAY_STRUCTS",
    "ARRAY_STRUCTS_MAX",
    "BYTE0",
    "BYTE1",
    "UUID",
    "ZERO_UUID",
    "EncodeError",
    "ProtocolError",
    "Struct",
    "StructError",
    "array_struct",
    "bad_length",
    "null_not_allowed",
    "pack_into",
    "read_cbytes",
    "read_compact_count",
    "read_crecords",
    "read_crecords_required",
    "read_cstring",
    "read_ncbytes",
    "read_ncstring",
    "read_unknown_tag",
    "read_uvarint",
    "shape_struct",
    "size_tagged_section",
    "size_uvarint",
    "unpack_from",
    "uuid_of",
    "write_cstring_long",
    "write_tagged_section",
    "write_uvarint",
]

ZERO_UUID = UUID(int=0)
VARINT_BYTES_MAX = 5  # an unsigned varint carries at most 32 bits
_S_h = Struct(">h")
_S_i = Struct(">i")


def bad_length(pos: int, n: int) -> ProtocolError:
    return ProtocolError(f"length {n} out of bounds", offset=pos)


def null_not_allowed(pos: int) -> ProtocolError:
    return ProtocolError("null value for a non-nullable field", offset=pos)


# ---- unsigned varints -----------------------------------------------------------------

def read_uvarint(b, pos: int) -> tuple[int, int]:
    start = pos
    value = 0
    shift = 0
    while True:
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 7 * VARINT_BYTES_MAX:
            raise ProtocolError("unsigned varint longer than 5 bytes", offset=start)


def size_uvarint(n: int) -> int:
    if n < 0x80:
        return 1
    if n < 0x4000:
        return 2
    if n < 0x200000:
        return 3
    if n < 0x10000000:
        return 4
    if n < 0x100000000:
        return 5
    raise EncodeError(f"unsigned varint {n} exceeds 32 bits")


def write_uvarint(buf, pos: int, n: int) -> int:
    if n < 0 or n >= 0x100000000:
        raise EncodeError(f"unsigned varint {n} out of range")
    while n >= 0x80:
        buf[pos] = (n & 0x7F) | 0x80
        n >>= 7
        pos += 1
    buf[pos] = n
    return pos + 1


def read_compact_count(b, pos: int, nullable: bool) -> tuple[int, int]:
    """Element count of a compact array at pos (varint N+1); -1 for null."""
    n, end = read_uvarint(b, pos)
    if n == 0 and not nullable:
        raise null_not_allowed(pos)
    return n - 1, end


# ---- strings ----------------------------------------------------------------------------

def _utf8(b, pos: int, end: int) -> str:
    try:
        return str(b[pos:end], "utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("invalid UTF-8 in string", offset=pos) from None


def read_cstring(b, pos: int) -> tuple[str, int]:
    start = pos
    n = b[pos]
    if n < 0x80:
        pos += 1
    else:
        n, pos = read_uvarint(b, pos)
    if n == 0:
        raise null_not_allowed(start)
    end = pos + n - 1
    if end > len(b):
        raise bad_length(start, n - 1)
    return _utf8(b, pos, end), end


def read_ncstring(b, pos: int) -> tuple[str | None, int]:
    start = pos
    n = b[pos]
    if n < 0x80:
        pos += 1
    else:
        n, pos = read_uvarint(b, pos)
    if n == 0:
        return None, pos
    end = pos + n - 1
    if end > len(b):
        raise bad_length(start, n - 1)
    return _utf8(b, pos, end), end


# ---- bytes and records --------------------------------------------------------------------

def read_cbytes(b, pos: int) -> tuple[bytes, int]:
    start = pos
    n, pos = read_uvarint(b, pos)
    if n == 0:
        raise null_not_allowed(start)
    end = pos + n - 1
    if end > len(b):
        raise bad_length(start, n - 1)
    return bytes(b[pos:end]), end


def read_ncbytes(b, pos: int) -> tuple[bytes | None, int]:
    start = pos
    n, pos = read_uvarint(b, pos)
    if n == 0:
        return None, pos
    end = pos + n - 1
    if end > len(b):
        raise bad_length(start, n - 1)
    return bytes(b[pos:end]), end


def read_crecords(b, m, pos: int) -> tuple[memoryview | None, int]:
    """Compact records: a memoryview slice of m (the frame), never a copy."""
    start = pos
    n, pos = read_uvarint(b, pos)
    if n == 0:
        return None, pos
    end = pos + n - 1
    if end > len(b):
        raise bad_length(start, n - 1)
    return m[pos:end], end


def read_crecords_required(b, m, pos: int) -> tuple[memoryview, int]:
    value, end = read_crecords(b, m, pos)
    if value is None:
        raise null_not_allowed(pos)
    return value, end


# ---- tagged fields ---------------------------------------------------------------------------

def read_unknown_tag(b, pos: int) -> tuple[int, int, int]:
    """Read a tag header: returns (tag, value_start, value_end), value bounded by the buffer."""
    tag, pos = read_uvarint(b, pos)
    start = pos
    size, pos = read_uvarint(b, pos)
    end = pos + size
    if end > len(b):
        raise bad_length(start, size)
    return tag, pos, end


def _tag_items(known, unknown) -> list[tuple[int, bytes]]:
    items = list(known)
    if unknown:
        items.extend(unknown)
        items.sort(key=lambda item: item[0])
    return items


def size_tagged_section(known, unknown) -> int:
    items = _tag_items(known, unknown)
    n = size_uvarint(len(items))
    for tag, data in items:
        n += size_uvarint(tag) + size_uvarint(len(data)) + len(data)
    return n


def write_tagged_section(buf, pos: int, known, unknown) -> int:
    """Write (tag, encoded value) pairs in ascending tag order, unknown tags kept verbatim."""
    items = _tag_items(known, unknown)
    pos = write_uvarint(buf, pos, len(items))
    for tag, data in items:
        pos = write_uvarint(buf, pos, tag)
        pos = write_uvarint(buf, pos, len(data))
        buf[pos:pos + len(data)] = data
        pos += len(data)
    return pos


# ---- fast paths used by the inlined generated code ---------------------------------------

BYTE0, BYTE1 = b"\x00", b"\x01"
UUID_CACHE_MAX = 4096  # topic ids repeat: keep decoded UUIDs, bounded
ARRAY_STRUCTS_MAX = 64  # precompiled Structs for primitive arrays up to this many elements
_UUIDS: dict[bytes, UUID] = {bytes(16): ZERO_UUID}


def uuid_of(raw: bytes) -> UUID:
    """UUID for 16 raw bytes, from a bounded cache (topic ids repeat in every response)."""
    found = _UUIDS.get(raw)
    if found is None:
        if len(_UUIDS) >= UUID_CACHE_MAX:
            _UUIDS.clear()
            _UUIDS[bytes(16)] = ZERO_UUID
        found = _UUIDS[raw] = UUID(bytes=raw)
    return found


def _array_structs(char: str) -> list[Struct]:
    return [Struct(f">{n}{char}") for n in range(ARRAY_STRUCTS_MAX + 1)]


ARRAY_STRUCTS = {c: _array_structs(c) for c in "?bhHiIqd"}


def array_struct(char: str, n: int) -> Struct:
    table = ARRAY_STRUCTS[char]
    return table[n] if n <= ARRAY_STRUCTS_MAX else Struct(f">{n}{char}")


def write_cstring_long(buf, pos: int, s: str, data: bytes) -> int:
    """Compact string whose encoded length needs a multi-byte varint. The size pass
    budgeted varint(len(s)+1) + len(s) bytes; replace exactly that range."""
    budget = size_uvarint(len(s) + 1) + len(s)
    head = bytearray(VARINT_BYTES_MAX)
    k = write_uvarint(head, 0, len(data) + 1)
    buf[pos:pos + budget] = bytes(head[:k]) + data
    return pos + k + len(data)


SHAPE_CACHE_MAX = 256  # distinct array-length combinations kept per element layout


def shape_struct(cache: dict, template: str, lens: tuple) -> Struct:
    """Struct for one element layout at given primitive-array lengths (bounded cache)."""
    found = cache.get(lens)
    if found is None:
        if len(cache) >= SHAPE_CACHE_MAX:
            cache.clear()
        found = cache[lens] = Struct(">" + template % lens)
    return found
