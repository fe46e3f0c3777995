"""The reactor's sleep/wake handshake loses no wake-up, and the detector proves it can see one.

Two forked processes run real Reactors over a real arena. The receiver sleeps as soon as it is
idle (idle_poll_us=0), so every message needs a wake-up; the sender waits for each echo, then
pauses a random 0-30 µs so its publish lands anywhere in the receiver's way to sleep. A
wake-up is lost when the receiver sleeps (flag set) with a message pending in its ring and
stays so: the sender checks that twice, 10 ms apart, counts it and rings the doorbell to go
on. The real handshake runs 3 s and may lose nothing. The broken variant skips the receiver's
re-check after announcing sleep and runs until the detector sees its first loss (bounded at
90 s; one every 1-11 s measured here since the callback poller narrowed the window).
"Stuck" also requires that no doorbell is pending and that the state lasts 200 ms: on a
loaded machine a receiver preempted between two steps of the handshake is late, not lost.
"""

from __future__ import annotations

import asyncio
import os
import random
import select
import struct
import time

import pytest
import uvloop

from panda.runtime.arena import SLEEPING_OFF, Arena
from panda.runtime.doorbell import make_eventfd
from panda.runtime.reactor import Reactor
from panda.runtime.ring import HEAD, TAIL

pytestmark = pytest.mark.multiprocess

DURATION_S = 3.0            # the real handshake: this long, not one loss allowed
BROKEN_DURATION_MAX_S = 90.0  # the broken one: until its first loss (1-11 s measured)
MESSAGES_MAX = 200_000
STUCK_AFTER_S = 0.05
STUCK_CONFIRM_S = 0.2
_SEQ = struct.Struct("<Q")
_BATCH_HEAD_BYTES = 5       # a coalesced record: msgpack array32 header, then the messages


def _seqs(view: memoryview) -> list[int]:
    """The sequence numbers in a coalesced record (this test's messages are bare u64s)."""
    return [seq for (seq,) in _SEQ.iter_unpack(view[_BATCH_HEAD_BYTES:])]


def _on_batch(handle):
    """deliver_batch for this test: handle(seq) per message, then the message count."""
    def deliver_batch(src: int, view: memoryview) -> int:
        seqs = _seqs(view)
        for seq in seqs:
            handle(seq)
        return len(seqs)
    return deliver_batch


def _receiver(arena: Arena, fds: list[int], broken: bool, duration_s: float) -> None:
    async def main() -> None:
        reactor = Reactor(1, arena, fds, idle_poll_us=0, overprovisioned=False,
                          skip_sleep_recheck=broken)
        reactor.deliver = lambda src, view: reactor.outboxes[0].send(bytes(view), False)
        reactor.deliver_batch = _on_batch(
            lambda seq: reactor.outboxes[0].send(_SEQ.pack(seq), False))
        poller = asyncio.get_running_loop().create_task(reactor.run())
        await asyncio.sleep(duration_s + 2.0)
        reactor.stop(RuntimeError("done"))
        await poller

    uvloop.run(main())


def _receiver_stuck(arena: Arena, doorbell_fd: int) -> bool:
    """Receiver asleep while its incoming ring holds a message and no doorbell is pending.

    (A rung doorbell the receiver has not run yet to read, or a receiver preempted between
    announcing sleep and its re-check, is slow, not lost: it resolves once it runs.)"""
    words = arena.ring(0, 1)[:192].cast("Q")
    sleeping = arena.control(1).cast("Q")[SLEEPING_OFF // 8]
    rung = bool(select.select([doorbell_fd], [], [], 0)[0])
    return bool(sleeping) and words[TAIL] != words[HEAD] and not rung


async def _stays_stuck(arena: Arena, doorbell_fd: int) -> bool:
    """Stuck at every look over STUCK_CONFIRM_S: a real loss never resolves by itself."""
    for _ in range(int(STUCK_CONFIRM_S / 0.005)):
        if not _receiver_stuck(arena, doorbell_fd):
            return False
        await asyncio.sleep(0.005)
    return True


async def _drive(arena: Arena, fds: list[int], seed: int, duration_s: float,
                 stop_at_first_loss: bool) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    reactor = Reactor(0, arena, fds, idle_poll_us=50, overprovisioned=False)
    echoes: asyncio.Queue[int] = asyncio.Queue()
    reactor.deliver = lambda src, view: echoes.put_nowait(_SEQ.unpack(view)[0])
    reactor.deliver_batch = _on_batch(echoes.put_nowait)
    poller = loop.create_task(reactor.run())
    rng = random.Random(seed)
    sent = lost = 0
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline and sent < MESSAGES_MAX and not (
            stop_at_first_loss and lost):
        reactor.outboxes[1].send(_SEQ.pack(sent), False)
        while True:
            try:
                assert await asyncio.wait_for(echoes.get(), STUCK_AFTER_S) == sent
                break
            except TimeoutError:
                if await _stays_stuck(arena, fds[1]):
                    lost += 1
                    reactor._doorbells[1].ring()
        sent += 1
        pause_until = time.perf_counter() + rng.uniform(0, 30e-6)
        while time.perf_counter() < pause_until:
            pass
    reactor.stop(RuntimeError("done"))
    await poller
    return sent, lost


def _run(broken: bool, seed: int) -> tuple[int, int]:
    duration_s = BROKEN_DURATION_MAX_S if broken else DURATION_S
    arena = Arena(2, 64 * 1024)
    fds = [make_eventfd(), make_eventfd()]
    pid = os.fork()
    if pid == 0:
        try:
            _receiver(arena, fds, broken, duration_s)
        finally:
            os._exit(0)
    try:
        return uvloop.run(_drive(arena, fds, seed, duration_s, stop_at_first_loss=broken))
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        for fd in fds:
            os.close(fd)


@pytest.mark.parametrize("broken", [False, True], ids=["handshake", "broken-handshake"])
def test_lost_wakeups_are_none_and_the_detector_sees_them_when_broken(broken):
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    sent, lost = _run(broken, seed)
    print(f"broken={broken} sent={sent} lost={lost}")
    assert broken or sent > 1000, f"too few round trips to judge (seed={seed})"
    if broken:
        assert lost > 0, f"the detector saw no loss in the broken variant (seed={seed})"
    else:
        assert lost == 0, f"{lost} lost wake-ups in {sent} messages (seed={seed})"
