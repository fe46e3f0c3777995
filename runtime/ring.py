"""SPSC ring between exactly one producer shard and one consumer shard, in shared memory.

Layout: head (consumer-owned), tail (producer-owned) and the producer's `waiting` flag on
separate cache lines, then the data area. Records are [u32 length][u32 flags][payload],
8-byte aligned; a record that would straddle the end is preceded by a skip record. The
payload is written before the tail is published (x86 keeps stores in order). push/pop never
block and never allocate beyond the popped view; waiting and waking live in the reactor.
The ring never looks inside a payload: a BATCH record's messages are counted by its reader.
"""

from __future__ import annotations

import struct

from .arena import RING_HEADER_BYTES

_HDR = struct.Struct("<II")
_HDR_BYTES = 8
# Counter slots, as indexes into the header viewed as u64 words. Shared counters go through
# memoryview.cast("Q") item access: one aligned 8-byte load or store. Never struct.pack_into:
# it zero-fills the target before writing, so a concurrent reader can see 0.
HEAD = 0
TAIL = 8
WAITING = 16

# Record flags: a message travels whole or as FIRST, MORE..., LAST chunks; BATCH holds
# several small messages coalesced by the sender (one record, one decode on the receiver).
WHOLE = 0
FIRST = 1
MORE = 2
LAST = 3
BATCH = 4
SKIP = 0xFF


_NOTHING = (0, 0)


def _aligned(n: int) -> int:
    return (n + 7) & ~7


class Ring:
    """One direction between two shards. Each side uses only its own half of the methods."""

    __slots__ = (
        "_data",
        "_head",
        "_head_cached",
        "_mask",
        "_published_tail",
        "_tail_cached",
        "_tail_pending",
        "_words",
        "capacity",
        "chunk_bytes",
    )

    def __init__(self, region: memoryview, chunk_divisor: int = 4):
        self._words = region[:RING_HEADER_BYTES].cast("Q")
        self._data = region[RING_HEADER_BYTES:]
        self.capacity = len(self._data)
        assert self.capacity & (self.capacity - 1) == 0, "ring data must be a power of two"
        self._mask = self.capacity - 1
        self.chunk_bytes = self.capacity // chunk_divisor - _HDR_BYTES
        head = self._words[HEAD]
        tail = self._words[TAIL]
        self._tail_pending = tail       # producer: end of written, maybe unpublished, records
        self._published_tail = tail
        self._head_cached = head        # producer: last head it saw
        self._head = head               # consumer: start of the next record to read
        self._tail_cached = tail        # consumer: last tail it saw

    # -- producer side -------------------------------------------------------------------
    def try_push(self, payload, flags: int = WHOLE) -> bool:
        """Write one record (len(payload) <= chunk_bytes) without publishing it."""
        size = len(payload)
        need = _HDR_BYTES + _aligned(size)
        tail = self._tail_pending
        pos = tail & self._mask
        to_end = self.capacity - pos
        pad = to_end if to_end < need else 0
        if tail + pad + need - self._head_cached > self.capacity:
            self._head_cached = self._words[HEAD]
            if tail + pad + need - self._head_cached > self.capacity:
                return False
        data = self._data
        if pad:
            _HDR.pack_into(data, pos, 0, SKIP)
            tail += pad
            pos = 0
        _HDR.pack_into(data, pos, size, flags)
        data[pos + _HDR_BYTES : pos + _HDR_BYTES + size] = payload
        self._tail_pending = tail + need
        return True

    def publish(self) -> bool:
        """Make every pushed record visible to the consumer; True if anything was new."""
        if self._tail_pending == self._published_tail:
            return False
        self._words[TAIL] = self._tail_pending
        self._published_tail = self._tail_pending
        return True

    def unpublished_bytes(self) -> int:
        return self._tail_pending - self._published_tail

    def set_producer_waiting(self, waiting: bool) -> None:
        self._words[WAITING] = 1 if waiting else 0

    def has_space_for(self, size: int) -> bool:
        """Producer re-check after announcing it waits (size <= chunk_bytes)."""
        self._head_cached = self._words[HEAD]
        worst = _HDR_BYTES + _aligned(size) + _HDR_BYTES + _aligned(size)
        return self._tail_pending + worst - self._head_cached <= self.capacity

    # -- consumer side -------------------------------------------------------------------
    def peek(self):
        """The next record as (payload view, flags), or None. Valid until advance()."""
        head = self._head
        if head == self._tail_cached:
            self._tail_cached = self._words[TAIL]
            if head == self._tail_cached:
                return None
        pos = head & self._mask
        size, flags = _HDR.unpack_from(self._data, pos)
        if flags == SKIP:
            head += self.capacity - pos
            self._head = head
            pos = 0
            size, flags = _HDR.unpack_from(self._data, 0)
        return self._data[pos + _HDR_BYTES : pos + _HDR_BYTES + size], flags

    def drain(self, src: int, deliver, deliver_batch, assemble,
              limit: int) -> tuple[int, int]:
        """Hand records to deliver(src, view) (whole), deliver_batch(src, view) (returns its
        message count) or assemble(src, view, flags) (chunks) until `limit` messages went up;
        returns (messages, payload bytes). Views are valid until release()."""
        head = self._head
        if head == self._tail_cached:
            tail = self._tail_cached = self._words[TAIL]
            if head == tail:
                return _NOTHING         # the common idle pass: one shared load
        words, data, mask, capacity = self._words, self._data, self._mask, self.capacity
        tail = self._tail_cached
        unpack = _HDR.unpack_from
        count = nbytes = 0
        while count < limit:
            if head == tail:
                tail = self._tail_cached = words[TAIL]
                if head == tail:
                    break
            pos = head & mask
            size, flags = unpack(data, pos)
            if flags == SKIP:
                head += capacity - pos
                continue
            start = pos + _HDR_BYTES
            head += _HDR_BYTES + ((size + 7) & ~7)
            self._head = head
            nbytes += size
            if flags == BATCH:
                count += deliver_batch(src, data[start : start + size])
            elif flags == WHOLE:
                count += 1
                deliver(src, data[start : start + size])
            else:
                count += 1
                assemble(src, data[start : start + size], flags)
        self._head = head
        return count, nbytes

    def advance(self, size: int) -> None:
        """Step past the record just peeked (its payload size)."""
        self._head += _HDR_BYTES + _aligned(size)

    def release(self) -> None:
        """Hand the consumed space back to the producer."""
        self._words[HEAD] = self._head

    def has_data(self) -> bool:
        """Consumer re-check straight from shared memory (after announcing sleep)."""
        self._tail_cached = self._words[TAIL]
        return self._head != self._tail_cached

    def producer_waiting(self) -> bool:
        return self._words[WAITING] != 0
