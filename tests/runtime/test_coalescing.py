"""Sender-side coalescing: the small messages a shard sends one shard in one loop pass share
one ring record, and nothing about order, back-pressure or errors changes because of it.

Two real Reactors and Dispatchers over a real arena, in one process and one loop (shard 0 and
shard 1), so each test sees exactly which records crossed.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import msgspec
import pytest
import uvloop

from panda.runtime import constants
from panda.runtime.arena import Arena
from panda.runtime.dispatcher import Dispatcher
from panda.runtime.doorbell import make_eventfd
from panda.runtime.reactor import Reactor
from panda.runtime.service import Service

RING_BYTES_SMALL = 64 * 1024        # the smallest ring: chunks at 16 KiB, fills quickly


class Sink(Service):
    """Shard 1's service: records what arrives, in arrival order."""

    name = "sink"

    def __init__(self) -> None:
        self.log: list[Any] = []

    def put(self, seq: int, data: bytes) -> None:
        self.log.append((seq, data))

    def square(self, n: int) -> int:
        return n * n


class _Pair:
    """Shards 0 and 1 in one loop: reactors polling, dispatchers routing, a Sink on 1."""

    def __init__(self, ring_bytes: int):
        self.arena = Arena(2, ring_bytes)
        self.fds = [make_eventfd(), make_eventfd()]
        self.reactors = [Reactor(s, self.arena, self.fds, idle_poll_us=100,
                                 overprovisioned=False) for s in (0, 1)]
        self.dispatchers = [Dispatcher(r, message_bytes_max=constants.MESSAGE_BYTES_MAX_DEFAULT,
                                       calls_in_flight_max=4096) for r in self.reactors]
        self.sink = Sink()
        self.sink.shard, self.sink.smp = 1, 2
        self.dispatchers[1].local["sink"] = self.sink
        self.records: list[tuple[str, int, int]] = []   # (kind, messages, bytes) on shard 1
        self._count_records(self.reactors[1])
        loop = asyncio.get_running_loop()
        self.pollers = [loop.create_task(r.run()) for r in self.reactors]

    def _count_records(self, reactor: Reactor) -> None:
        deliver, deliver_batch = reactor.deliver, reactor.deliver_batch

        def whole(src: int, view: memoryview) -> None:
            self.records.append(("whole", 1, len(view)))
            deliver(src, view)

        def batch(src: int, view: memoryview) -> int:
            count = deliver_batch(src, view)
            self.records.append(("batch", count, len(view)))
            return count

        reactor.deliver, reactor.deliver_batch = whole, batch

    def tell(self, method: str, *args: Any):
        route = self.dispatchers[0].route(1, Sink, method)
        return self.dispatchers[0].tell_route(route, args, {})

    def call(self, method: str, *args: Any):
        route = self.dispatchers[0].route(1, Sink, method)
        return self.dispatchers[0].call_route(route, args, {}, 10.0)

    async def until(self, count: int) -> None:
        for _ in range(10_000):
            if len(self.sink.log) >= count:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"{len(self.sink.log)} of {count} messages arrived")

    async def close(self) -> None:
        for reactor in self.reactors:
            reactor.stop(RuntimeError("test over"))
        await asyncio.gather(*self.pollers)
        for fd in self.fds:
            os.close(fd)


def _run(test, ring_bytes: int = 1 << 20) -> Any:
    async def main() -> Any:
        pair = _Pair(ring_bytes)
        try:
            return await test(pair)
        finally:
            await pair.close()

    return uvloop.run(main())


def test_small_messages_of_one_pass_share_one_record_and_a_lone_one_travels_whole():
    async def test(pair: _Pair) -> None:
        for seq in range(50):
            assert pair.tell("put", seq, b"x" * 64) is None
        await pair.until(50)
        assert [r[:2] for r in pair.records] == [("batch", 50)]
        pair.tell("put", 50, b"y")
        await pair.until(51)
        assert [r[:2] for r in pair.records[1:]] == [("whole", 1)]
        assert [seq for seq, _ in pair.sink.log] == list(range(51))

    _run(test)


def test_order_holds_across_small_whole_and_chunked_messages():
    """A larger message seals the open batch first: records leave in send order."""
    sizes = [10, 20, 5000, 30, 40, 200_000, 50, 60, 1 << 20, 70] * 3

    async def test(pair: _Pair) -> None:
        payloads = [os.urandom(size) for size in sizes]
        for seq, payload in enumerate(payloads):
            wait = pair.tell("put", seq, payload)
            if wait is not None:
                await wait
        await pair.until(len(payloads))
        assert [seq for seq, _ in pair.sink.log] == list(range(len(payloads)))
        assert [data for _, data in pair.sink.log] == payloads
        assert [kind for kind, _, _ in pair.records].count("batch") >= 3

    _run(test)


def test_a_full_ring_makes_small_senders_wait_and_loses_nothing():
    """Back-pressure: batches park behind a full ring, senders await, order holds."""
    count = 20_000

    async def test(pair: _Pair) -> None:
        waits = 0
        for seq in range(count):
            wait = pair.tell("put", seq, b"z" * 100)
            if wait is not None:
                waits += 1
                await wait
        await pair.until(count)
        assert [seq for seq, _ in pair.sink.log] == list(range(count))
        assert waits > 0, "the ring never filled: the test proves nothing"
        assert pair.reactors[0].stats.full_waits > 0
        assert pair.reactors[0].stats.sent_messages == count
        assert pair.reactors[1].stats.received_messages == count
        assert max(messages for _, messages, _ in pair.records) > 1

    _run(test, RING_BYTES_SMALL)


def test_arguments_that_fail_to_decode_fail_that_call_alone():
    """In one coalesced record, the call whose argument does not fit `square(n: int)` gets
    the typed error; the calls before and after it in the record still run."""

    async def test(pair: _Pair) -> None:
        args = [1, 2, "three", 4, 5]
        results = await asyncio.gather(*(pair.call("square", n) for n in args),
                                       return_exceptions=True)
        assert [r[:2] for r in pair.records] == [("batch", 5)]
        assert results[:2] == [1, 4] and results[3:] == [16, 25]
        assert isinstance(results[2], msgspec.ValidationError), results[2]
        assert "Expected `int`, got `str`" in str(results[2])

    _run(test)


def test_replies_to_a_burst_of_calls_come_back_coalesced():
    async def test(pair: _Pair) -> None:
        results = await asyncio.gather(*(pair.call("square", n) for n in range(100)))
        assert results == [n * n for n in range(100)]
        assert [r[:2] for r in pair.records] == [("batch", 100)]
        assert pair.reactors[0].stats.received_messages == 100

    _run(test)


@pytest.mark.parametrize("size", [constants.COALESCE_MESSAGE_BYTES_MAX - 32,
                                  constants.COALESCE_MESSAGE_BYTES_MAX + 1])
def test_a_batch_never_outgrows_its_bound(size):
    """A batch is sealed before a message would take it past COALESCE_BYTES_MAX (or the
    ring's chunk size); a message over COALESCE_MESSAGE_BYTES_MAX is never coalesced."""

    async def test(pair: _Pair) -> None:
        for seq in range(40):
            pair.tell("put", seq, b"b" * size)
        await pair.until(40)
        assert [seq for seq, _ in pair.sink.log] == list(range(40))
        kinds = {kind for kind, _, _ in pair.records}
        coalesced = size + 32 <= constants.COALESCE_MESSAGE_BYTES_MAX
        assert kinds == ({"batch"} if coalesced else {"whole"})
        assert max(nbytes for _, _, nbytes in pair.records) <= constants.COALESCE_BYTES_MAX

    _run(test)


def test_a_backlog_drains_while_messages_keep_arriving():
    """The poller flushes its backlogs on every pass, not only on passes that found no
    inbound message: shard 1 chatters at shard 0 the whole time shard 0's ring is full."""
    count = 20_000

    async def test(pair: _Pair) -> None:
        echo = Sink()
        echo.shard, echo.smp = 0, 2
        pair.dispatchers[0].local["sink"] = echo
        back = pair.dispatchers[1].route(0, Sink, "put")
        done = False

        async def chatter() -> None:
            seq = 0
            while not done:
                wait = pair.dispatchers[1].tell_route(back, (seq, b"c"), {})
                if wait is not None:
                    await wait
                seq += 1
                await asyncio.sleep(0)

        chatting = asyncio.get_running_loop().create_task(chatter())
        for seq in range(count):
            wait = pair.tell("put", seq, b"z" * 100)
            if wait is not None:
                await asyncio.wait_for(wait, 10)
        await pair.until(count)
        done = True
        await chatting
        assert pair.reactors[0].stats.full_waits > 0
        assert len(echo.log) > 20, "shard 1 did not keep sending: the test proves nothing"

    _run(test, RING_BYTES_SMALL)


def test_a_record_that_is_not_a_list_of_envelopes_ends_the_poller():
    """A corrupt record is a broken invariant: run() raises (the shard then goes down)
    instead of the poller skipping it and going on."""

    async def test(pair: _Pair) -> None:
        outbox = pair.reactors[0].outboxes[1]
        outbox.send(b"\xc1", False)         # 0xc1: never valid msgpack
        outbox.send(b"\xc1", False)         # two: one BATCH record
        with pytest.raises(msgspec.DecodeError):
            await asyncio.wait_for(pair.pollers[1], 5)
        pair.pollers[1] = asyncio.get_running_loop().create_future()
        pair.pollers[1].set_result(None)

    _run(test)


def test_whole_records_are_published_before_the_pass_ends_once_enough_pile_up():
    """A sender that does not yield still lets the receiver start: after PUBLISH_BYTES_MAX of
    whole records (and after every full batch) the tail is published at once."""
    size = 8 * 1024

    async def test(pair: _Pair) -> None:
        inbound = pair.reactors[1]._inbound[0][1]
        pair.tell("put", 0, b"w" * size)
        pair.tell("put", 1, b"w" * size)
        assert not inbound.has_data()          # two: they wait for the end of the pass
        for seq in range(2, constants.PUBLISH_BYTES_MAX // size + 1):
            pair.tell("put", seq, b"w" * size)
        assert inbound.has_data()              # enough: published without a yield
        await pair.until(constants.PUBLISH_BYTES_MAX // size + 1)

    _run(test)
