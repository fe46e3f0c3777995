"""The node's shared memory: one anonymous shared mapping, carved into shard control blocks
and one SPSC ring per ordered shard pair.

The node process creates it before forking shards, so it is inherited, never named, and
cannot outlive the node: nothing is ever created in /dev/shm.
"""

from __future__ import annotations

import mmap
import struct

from . import constants

_I = struct.Struct("<I")

# Control block layout (per shard), each hot field on its own cache line.
SLEEPING_OFF = 0            # u64: 1 while the shard sleeps on its doorbell
STATE_OFF = 64              # u64: ShardState
PID_OFF = 128               # u64
LAST_ERROR_OFF = 256        # u32 length + utf-8 text


class ShardState:
    STARTING = 0
    READY = 1      # reactor polling, control service up
    RUNNING = 2    # every service started (set on shard 0 for the node)
    STOPPING = 3
    STOPPED = 4


RING_HEADER_BYTES = 3 * constants.CACHE_LINE_BYTES


class Arena:
    """Offsets of every control block and ring inside one shared mapping."""

    def __init__(self, smp: int, ring_bytes: int):
        assert smp >= 1 and ring_bytes & (ring_bytes - 1) == 0
        self.smp = smp
        self.ring_bytes = ring_bytes
        self._ring_stride = RING_HEADER_BYTES + ring_bytes
        self._rings_off = smp * constants.SHARD_CONTROL_BYTES
        rings = smp * (smp - 1)
        self.size_bytes = self._rings_off + rings * self._ring_stride
        self._map = mmap.mmap(-1, self.size_bytes, flags=mmap.MAP_SHARED)
        self.view = memoryview(self._map)
        self._words = self.view.cast("Q")   # aligned 8-byte loads/stores, never torn

    def control(self, shard: int) -> memoryview:
        off = shard * constants.SHARD_CONTROL_BYTES
        return self.view[off : off + constants.SHARD_CONTROL_BYTES]

    def ring(self, src: int, dst: int) -> memoryview:
        """The region of the ring carrying messages from shard src to shard dst."""
        assert src != dst
        index = src * (self.smp - 1) + (dst if dst < src else dst - 1)
        off = self._rings_off + index * self._ring_stride
        return self.view[off : off + self._ring_stride]

    # Control-block accessors, usable from the node and from shards.
    def state(self, shard: int) -> int:
        return self._words[(shard * constants.SHARD_CONTROL_BYTES + STATE_OFF) // 8]

    def set_state(self, shard: int, state: int) -> None:
        self._words[(shard * constants.SHARD_CONTROL_BYTES + STATE_OFF) // 8] = state

    def set_pid(self, shard: int, pid: int) -> None:
        self._words[(shard * constants.SHARD_CONTROL_BYTES + PID_OFF) // 8] = pid

    def set_last_error(self, shard: int, text: str) -> None:
        data = text.encode("utf-8", "replace")[: constants.LAST_ERROR_BYTES_MAX]
        off = shard * constants.SHARD_CONTROL_BYTES + LAST_ERROR_OFF
        self.view[off + 4 : off + 4 + len(data)] = data
        _I.pack_into(self.view, off, len(data))

    def last_error(self, shard: int) -> str:
        off = shard * constants.SHARD_CONTROL_BYTES + LAST_ERROR_OFF
        (length,) = _I.unpack_from(self.view, off)
        length = min(length, constants.LAST_ERROR_BYTES_MAX)
        return bytes(self.view[off + 4 : off + 4 + length]).decode("utf-8", "replace")
