"""The shard's ring transport: pushes to outgoing rings, polls incoming rings, sleeps on the
doorbell when idle, and wakes without losing a wake-up.

Invariants: only this shard pushes to its outgoing rings and pops its incoming rings; the
small messages of one loop pass share one record per ring (a batch, sealed by the pass's
publish); a full ring parks records in an ordered backlog (never dropped, never reordered);
every publish is followed by a fenced look at the receiver's sleeping flag.
"""

from __future__ import annotations

import asyncio
import collections
import struct
import time
from collections.abc import Callable
from typing import NoReturn

from . import constants
from .arena import Arena
from .doorbell import Doorbell, fence
from .ring import BATCH, FIRST, LAST, MORE, WHOLE, Ring

# A BATCH record is a msgpack array32 header (0xdd, u32 count) and then its messages, each a
# complete msgpack value: the receiver decodes the whole record with one call.
_BATCH_HEAD = struct.Struct(">BI")
_MSGPACK_ARRAY32 = 0xDD
_COALESCE_MESSAGE_BYTES_MAX = constants.COALESCE_MESSAGE_BYTES_MAX
_PUBLISH_BYTES = constants.PUBLISH_BYTES_MAX


class RingStats:
    """Counters of one shard's ring traffic (exported as metrics)."""

    __slots__ = (
        "full_waits",
        "received_bytes",
        "received_messages",
        "sent_bytes",
        "sent_messages",
        "sleeps",
        "wakeups",
    )

    def __init__(self) -> None:
        self.sent_messages = self.sent_bytes = 0
        self.received_messages = self.received_bytes = 0
        self.full_waits = self.sleeps = self.wakeups = 0


class Outbox:
    """Sender side of one ring: small messages coalesced into BATCH records, larger ones whole
    or chunked, and an ordered backlog when the ring is full.

    A batch is open from its first message until the end of the loop pass (the reactor's
    publish), or until it is full: then it enters the ring and is published at once, so the
    receiver works while this shard goes on producing (whole records likewise once
    PUBLISH_BYTES_MAX of them wait unpublished). A batch of one message travels as a
    plain WHOLE record (a lone call pays nothing for coalescing). Any larger message seals the
    open batch first, so records keep send order. Payloads must not change after send().
    """

    __slots__ = ("_batch", "_batch_bytes", "_batch_count", "_batch_limit", "_batch_waiter",
                 "_first", "_reactor", "backlog", "dst", "peer", "ring")

    def __init__(self, dst: int, ring: Ring, peer: Doorbell, reactor: Reactor):
        self.dst = dst
        self.ring = ring
        self.peer = peer
        self.backlog: collections.deque = collections.deque()
        self._reactor = reactor
        self._batch = bytearray(_BATCH_HEAD.size)     # messages 2.. of the open batch
        self._first = b""                             # its first message, not yet copied
        self._batch_count = 0
        self._batch_bytes = 0
        self._batch_limit = min(constants.COALESCE_BYTES_MAX, ring.chunk_bytes) - _BATCH_HEAD.size
        self._batch_waiter: asyncio.Future | None = None

    def send(self, payload, want_wait: bool) -> asyncio.Future | None:
        """Queue one message; a future is returned only when the sender must wait for space
        (a small message then waits for its batch to enter the ring)."""
        size = len(payload)
        if size > _COALESCE_MESSAGE_BYTES_MAX:
            return self._send_record(payload, size, want_wait)
        count = self._batch_count
        if count and self._batch_bytes + size > self._batch_limit:
            self.seal()
            self.publish()
            count = 0
        if not count:
            self._reactor.mark_dirty(self)
            self._first = payload
            self._batch_bytes = size
        else:
            if count == 1:
                self._batch += self._first
            self._batch += payload
            self._batch_bytes += size
        self._batch_count = count + 1
        if not self.backlog or not want_wait:
            return None
        if self._batch_waiter is None:
            self._batch_waiter = self._reactor.loop.create_future()
        return self._batch_waiter

    def _send_record(self, payload, size: int, want_wait: bool) -> asyncio.Future | None:
        """A message too large to coalesce: its own record, or chunks past chunk_bytes."""
        stats = self._reactor.stats
        stats.sent_messages += 1
        stats.sent_bytes += size
        self.seal()
        ring = self.ring
        if size <= ring.chunk_bytes:
            if not self.backlog and ring.try_push(payload, WHOLE):
                if ring.unpublished_bytes() >= _PUBLISH_BYTES:
                    self.publish()          # the receiver starts on them now, not at pass end
                self._reactor.mark_dirty(self)
                return None
            return self._park([(payload, WHOLE)], want_wait)
        pieces = self._chunks(memoryview(payload))
        if not self.backlog:
            while pieces and ring.try_push(*pieces[0]):
                pieces.popleft()
            self._reactor.mark_dirty(self)
            if not pieces:
                return None
        return self._park(pieces, want_wait)

    def seal(self) -> bool:
        """Close the open batch: into the ring when it has room (True), else at the
        backlog's end."""
        count = self._batch_count
        if not count:
            return False
        waiter = self._batch_waiter
        stats = self._reactor.stats
        stats.sent_messages += count
        stats.sent_bytes += self._batch_bytes
        self._batch_count = 0
        self._batch_waiter = None
        record: bytes | bytearray = self._first
        flags = WHOLE
        if count > 1:
            record, flags = self._batch, BATCH
            _BATCH_HEAD.pack_into(record, 0, _MSGPACK_ARRAY32, count)
        self._first = b""
        if not self.backlog and self.ring.try_push(record, flags):
            if flags == BATCH:
                del self._batch[_BATCH_HEAD.size:]      # the record was this buffer: reuse it
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return True
        if flags == BATCH:
            self._batch = bytearray(_BATCH_HEAD.size)   # the sealed one waits in the backlog
        stats.full_waits += 1
        self.backlog.append((record, flags, waiter))
        self._reactor.mark_backlogged(self)
        return False

    def publish(self) -> None:
        """Make every record in the ring visible; wake the receiver if it sleeps."""
        if self.ring.publish():
            self.peer.ring_if_sleeping()

    def _chunks(self, view: memoryview) -> collections.deque:
        step = self.ring.chunk_bytes
        count = (len(view) + step - 1) // step
        flags = [FIRST] + [MORE] * (count - 2) + [LAST]
        return collections.deque((view[i * step : (i + 1) * step], flags[i]) for i in range(count))

    def _park(self, pieces, want_wait: bool) -> asyncio.Future | None:
        self._reactor.stats.full_waits += 1
        future = self._reactor.loop.create_future() if want_wait else None
        for index, (piece, flags) in enumerate(pieces):
            last = index == len(pieces) - 1
            self.backlog.append((piece, flags, future if last else None))
        self._reactor.mark_backlogged(self)
        return future

    def flush_backlog(self) -> int:
        """Move parked records into the ring while it has room, then the open batch (its
        senders wait for it); returns records moved."""
        moved = 0
        backlog = self.backlog
        while backlog:
            piece, flags, future = backlog[0]
            if not self.ring.try_push(piece, flags):
                break
            backlog.popleft()
            moved += 1
            if future is not None and not future.done():
                future.set_result(None)
        if not backlog and self.seal():
            moved += 1
        if moved:
            self._reactor.mark_dirty(self)
        return moved

    def next_record_bytes(self) -> int:
        return len(self.backlog[0][0]) if self.backlog else 0

    def fail_waiters(self, exc: BaseException) -> None:
        waiters = [future for _, _, future in self.backlog]
        waiters.append(self._batch_waiter)
        for future in waiters:
            if future is not None and not future.done():
                future.set_exception(exc)
        self.backlog.clear()
        self._batch_waiter = None
        self._batch_count = 0
        self._first = b""
        del self._batch[_BATCH_HEAD.size:]


class Reactor:
    """Owns this shard's rings and doorbell; hands each complete inbound message to `deliver`."""

    def __init__(self, shard: int, arena: Arena, doorbell_fds: list[int], *,
                 idle_poll_us: int, overprovisioned: bool, skip_sleep_recheck: bool = False):
        self.shard = shard
        self.smp = arena.smp
        self.loop = asyncio.get_running_loop()
        self.stats = RingStats()
        self.deliver: Callable[[int, memoryview], None] = _no_delivery
        self.deliver_batch: Callable[[int, memoryview], int] = _no_delivery
        self._doorbells = [Doorbell(fd, arena.control(i)) for i, fd in enumerate(doorbell_fds)]
        self.doorbell = self._doorbells[shard]
        self._inbound = [(src, Ring(arena.ring(src, shard), constants.RING_CHUNK_DIVISOR))
                         for src in range(self.smp) if src != shard]
        self.outboxes: dict[int, Outbox] = {
            dst: Outbox(dst, Ring(arena.ring(shard, dst), constants.RING_CHUNK_DIVISOR),
                        self._doorbells[dst], self)
            for dst in range(self.smp) if dst != shard}
        self._partial: dict[int, bytearray] = {}
        self._dirty: set[Outbox] = set()
        self._dirty_spare: set[Outbox] = set()     # _publish swaps the two, allocates none
        self._publish_scheduled = False
        self._draining = False
        self._backlogged: set[Outbox] = set()
        self._idle_poll_ns = 0 if overprovisioned else idle_poll_us * 1000
        self._skip_sleep_recheck = skip_sleep_recheck
        self._asleep = False
        self._waiting: list[Outbox] = []      # backlogged outboxes flagged while asleep
        self._last_work = 0
        self._done: asyncio.Future = self.loop.create_future()    # run() returns with it
        self._stopping = False
        self.loop.add_reader(self.doorbell.fd, self._on_doorbell)

    # -- sending -------------------------------------------------------------------------
    def mark_dirty(self, outbox: Outbox) -> None:
        """Publish this outbox at the end of the pass: the drain's own end while draining
        (replies made inline), else a callback scheduled once."""
        self._dirty.add(outbox)
        if not self._publish_scheduled and not self._draining:
            self._publish_scheduled = True
            self.loop.call_soon(self._publish_callback)

    def _publish_callback(self) -> None:
        self._publish_scheduled = False
        self._publish()

    def _publish(self) -> None:
        """End of a loop pass: seal every open batch and publish every ring written to."""
        dirty = self._dirty
        if not dirty:
            return
        self._dirty, self._dirty_spare = self._dirty_spare, dirty
        for outbox in dirty:
            outbox.seal()
            outbox.publish()
        dirty.clear()

    def mark_backlogged(self, outbox: Outbox) -> None:
        self._backlogged.add(outbox)
        self._wake_local()

    # -- receiving -----------------------------------------------------------------------
    def _drain(self) -> int:
        """Take every incoming ring's messages, publish what they made (replies run inline
        go out in this same pass), then hand the ring space back: release after publish, so
        a reply never waits for the producer-waiting handshake."""
        drained = None
        self._draining = True
        for src, ring in self._inbound:
            count, nbytes = ring.drain(src, self.deliver, self.deliver_batch, self._assemble,
                                       constants.DRAIN_MESSAGES_MAX)
            if count:
                drained = drained or []
                drained.append((src, ring, count, nbytes))
        self._draining = False
        if self._dirty:
            self._publish()
        return 0 if drained is None else self._release(drained)

    def _release(self, drained: list) -> int:
        total = 0
        stats = self.stats
        for src, ring, count, nbytes in drained:
            stats.received_bytes += nbytes
            stats.received_messages += count
            ring.release()
            fence()
            if ring.producer_waiting():
                self._doorbells[src].ring()
            total += count
        return total

    def _assemble(self, src: int, view: memoryview, flags: int) -> None:
        if flags == FIRST:
            assert src not in self._partial, "chunked message interleaved on one ring"
            self._partial[src] = bytearray(view)
            self.stats.received_messages -= 1     # counted once, when the last chunk lands
            return
        buffer = self._partial[src]
        buffer += view
        if flags == LAST:
            del self._partial[src]
            self.deliver(src, memoryview(buffer))
        else:
            self.stats.received_messages -= 1

    def _flush_backlogs(self) -> int:
        if not self._backlogged:
            return 0
        moved = 0
        for outbox in list(self._backlogged):
            moved += outbox.flush_backlog()
            if not outbox.backlog:
                self._backlogged.discard(outbox)
        return moved

    # -- polling and sleeping ------------------------------------------------------------
    async def run(self) -> None:
        """Poll until stopped: busy for idle_poll_us after the last message, then sleep.

        Each pass is one plain loop callback that reschedules itself (a task step per pass
        cost ~0.17 µs more): a message waits for at most one pass before it is seen."""
        self._last_work = time.perf_counter_ns()
        self.loop.call_soon(self._poll)
        await self._done

    def _poll(self) -> None:
        try:
            if self._stopping:
                self._done.set_result(None)
                return
            worked = self._drain()
            if self._backlogged:            # every pass: inbound traffic must not starve it
                worked += self._flush_backlogs()
            if worked:
                self._last_work = time.perf_counter_ns()
                self.loop.call_soon(self._poll)
            elif time.perf_counter_ns() - self._last_work < self._idle_poll_ns:
                self.loop.call_soon(self._poll)
            else:
                self._sleep()
        except BaseException as exc:  # noqa: BLE001 - run() raises it: the shard goes down
            self._done.set_exception(exc)

    def _sleep(self) -> None:
        """Announce sleep, look once more (the fence orders the two), then wait for the
        doorbell or a local wake-up; nothing is scheduled until then."""
        self._waiting = [o for o in self._backlogged if o.backlog]
        for outbox in self._waiting:
            outbox.ring.set_producer_waiting(True)
        self.doorbell.announce_sleep()      # store sleeping := 1, then fence
        self._asleep = True
        if not self._skip_sleep_recheck and self._work_visible(self._waiting):
            self._wake(counted=False)
            return
        self.stats.sleeps += 1

    def _wake(self, counted: bool = True) -> None:
        if not self._asleep:
            return
        self._asleep = False
        self.doorbell.cancel_sleep()
        for outbox in self._waiting:
            outbox.ring.set_producer_waiting(False)
        self._waiting = []
        if counted:
            self.stats.wakeups += 1
        self._last_work = time.perf_counter_ns()
        self.loop.call_soon(self._poll)

    def _work_visible(self, waiting: list[Outbox]) -> bool:
        if any(ring.has_data() for _, ring in self._inbound):
            return True
        return any(o.ring.has_space_for(o.next_record_bytes()) for o in waiting)

    def _on_doorbell(self) -> None:
        self.doorbell.drain()
        self._wake_local()

    def _wake_local(self) -> None:
        self._wake()

    def stop(self, exc: BaseException) -> None:
        self._stopping = True
        self._wake_local()
        for outbox in self.outboxes.values():
            outbox.fail_waiters(exc)
        self.loop.remove_reader(self.doorbell.fd)

    def backlog_depth(self) -> int:
        return sum(len(o.backlog) for o in self.outboxes.values())


def _no_delivery(src: int, view: memoryview) -> NoReturn:
    raise AssertionError("reactor delivered a message before a dispatcher was attached")
