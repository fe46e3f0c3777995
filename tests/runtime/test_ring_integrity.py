"""The SPSC ring between two real processes: every record arrives once, intact and in order,
whole or in chunks, while producer and consumer race on the shared head and tail.

Both sides run in forked children (pinned to different CPUs when there are two), for a
bounded time; the consumer reports the first problem it sees through a pipe. (These found
the head/tail published with struct.pack_into, which zero-fills before it writes: a consumer
could read a tail of 0 and walk into unwritten space.)"""

from __future__ import annotations

import os
import random
import struct
import time

import pytest

from panda.runtime.arena import Arena
from panda.runtime.ring import FIRST, LAST, MORE, WHOLE, Ring

pytestmark = pytest.mark.multiprocess

RING_BYTES = 64 * 1024
RUN_S = 1.0
_SEQ = struct.Struct("<II")
CPUS = sorted(os.sched_getaffinity(0))


def _pin(index: int) -> None:
    os.sched_setaffinity(0, {CPUS[index % len(CPUS)]})


def _pieces(step: int, body: bytes) -> list[tuple[memoryview | bytes, int]]:
    if len(body) <= step:
        return [(body, WHOLE)]
    n = (len(body) + step - 1) // step
    flags = [FIRST] + [MORE] * (n - 2) + [LAST]
    return [(memoryview(body)[i * step:(i + 1) * step], flags[i]) for i in range(n)]


def _produce(arena: Arena, size_max: int, seed: int) -> int:
    _pin(1)
    ring = Ring(arena.ring(0, 1), 4)
    rng = random.Random(seed)
    deadline = time.monotonic() + RUN_S
    seq = 0
    while time.monotonic() < deadline:
        size = rng.randrange(size_max)
        for piece, flag in _pieces(ring.chunk_bytes, _SEQ.pack(seq, size) + rng.randbytes(size)):
            while not ring.try_push(piece, flag):
                ring.publish()
                if time.monotonic() > deadline + 5:
                    return 3                     # the consumer stopped consuming
            ring.publish()
        seq += 1
    return 0


def _consume(arena: Arena, report: int) -> int:
    _pin(0)
    ring = Ring(arena.ring(0, 1), 4)
    partial: bytearray | None = None
    seq = 0
    deadline = time.monotonic() + RUN_S + 0.5
    problem = ""
    while not problem and time.monotonic() < deadline:
        record = ring.peek()
        if record is None:
            continue
        view, flags = record
        message = None
        if flags == WHOLE and partial is None:
            message = bytes(view)
        elif flags == FIRST and partial is None:
            partial = bytearray(view)
        elif flags in (MORE, LAST) and partial is not None:
            partial += view
            if flags == LAST:
                message, partial = bytes(partial), None
        else:
            problem = f"record flags {flags} at message {seq} (chunk open: {partial is not None})"
            break
        ring.advance(len(view))
        ring.release()
        if message is not None:
            got, size = _SEQ.unpack_from(message)
            if got != seq or size != len(message) - _SEQ.size:
                problem = f"message {seq}: got #{got} of {len(message)} bytes (header says {size})"
            seq += 1
    if not problem and seq < 100:
        problem = f"only {seq} messages arrived"
    os.write(report, (problem or f"ok {seq}").encode()[:4000])
    return 1 if problem else 0


def _child(target, *args) -> int:
    pid = os.fork()
    if pid == 0:
        code = 4
        try:
            code = target(*args)
        finally:
            os._exit(code)
    return pid


@pytest.mark.parametrize("size_max", [64, 100_000], ids=["small-records", "chunked-messages"])
def test_records_cross_between_processes_intact_and_in_order(size_max):
    arena = Arena(2, RING_BYTES)
    read_end, write_end = os.pipe()
    consumer = _child(_consume, arena, write_end)
    producer = _child(_produce, arena, size_max, 20261125)
    os.close(write_end)
    codes = {}
    deadline = time.monotonic() + RUN_S + 15
    try:
        while len(codes) < 2 and time.monotonic() < deadline:
            for pid in (consumer, producer):
                if pid not in codes:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        codes[pid] = os.waitstatus_to_exitcode(status)
            if consumer in codes and producer not in codes and codes[consumer] != 0:
                os.kill(producer, 9)
            time.sleep(0.01)
    finally:
        for pid in (consumer, producer):
            if pid not in codes:
                os.kill(pid, 9)
                codes[pid] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        with os.fdopen(read_end, "rb") as report:
            text = report.read().decode()
    assert codes[consumer] == 0, text
    assert codes[producer] == 0 and text.startswith("ok "), (codes, text)

