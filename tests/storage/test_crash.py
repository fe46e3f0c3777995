"""Kill -9 a durable appender at random moments; every acknowledged batch must survive intact.

The seed is printed so a failure replays: PANDA_CRASH_SEED=<seed> pytest -k crash.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time

import pytest

from panda.storage import record_batch as rb

from .conftest import config, run, started

pytestmark = pytest.mark.multiprocess

KILLS = 24
RUN_S_MAX = 0.5
CHILD = os.path.join(os.path.dirname(__file__), "crash_child.py")


def run_child(data_dir: str, term: int, seed: int, rng: random.Random) -> dict[int, bytes]:
    """Start the child, kill it at a random moment, return {base_offset: batch as sent}."""
    read_fd, write_fd = os.pipe()
    child = subprocess.Popen(
        [sys.executable, CHILD, data_dir, str(write_fd), str(term), str(seed)],
        pass_fds=(write_fd,),
        stdin=subprocess.DEVNULL,
    )
    os.close(write_fd)
    chunks: list[bytes] = []
    try:
        kill_at = (
            time.monotonic() + rng.uniform(0.0, RUN_S_MAX) + (0.3 if rng.random() < 0.8 else 0)
        )
        while time.monotonic() < kill_at:
            ready, _, _ = select.select([read_fd], [], [], max(kill_at - time.monotonic(), 0))
            if ready:
                chunks.append(os.read(read_fd, 1 << 20))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        for _ in range(100_000):
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        os.close(read_fd)
    acked = {}
    for line in b"".join(chunks).decode().splitlines():
        if line != "ready":
            base, data = line.split()
            acked[int(base)] = bytes.fromhex(data)
    return acked


async def verify(data_dir: str, acked: dict[int, tuple[int, bytes]]) -> int:
    manager = await started(config(data_dir))
    log = await manager.open_log("crash-0")
    result = log.read(0, 1 << 40)
    stored = {}
    expected_offset = 0
    for view in result.batches:
        header = rb.validate_crc(view)  # whole and intact, never partial
        assert header.base_offset == expected_offset, "offsets must be contiguous"
        expected_offset = header.next_offset
        stored[header.base_offset] = bytes(view)
    assert expected_offset == log.next_offset
    for base, (term, sent) in acked.items():
        expect = bytearray(sent)
        rb.set_base_offset(expect, 0, base)
        rb.set_partition_leader_epoch(expect, 0, term)
        assert stored.get(base) == bytes(expect), f"acknowledged batch at {base} lost or changed"
    await manager.stop()
    return log.next_offset


def test_acknowledged_batches_survive_sigkill(tmp_path):
    seed = int(os.environ.get("PANDA_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash test seed {seed}")
    rng = random.Random(seed)
    data_dir = str(tmp_path / "data")
    os.makedirs(data_dir)
    acked: dict[int, tuple[int, bytes]] = {}
    ends = []
    deadline = time.monotonic() + 90
    for kill in range(KILLS):
        assert time.monotonic() < deadline, "crash test over its time budget"
        term = kill + 1
        for base, sent in run_child(data_dir, term, rng.randrange(1 << 30), rng).items():
            acked[base] = (term, sent)
        if kill == KILLS - 1 or rng.random() < 0.5:  # else the next child recovers a crash
            ends.append(run(verify, data_dir, acked))
    assert len(acked) > 100, f"only {len(acked)} acknowledged batches in {KILLS} runs"
    print(f"{KILLS} kills, {len(acked)} acknowledged batches, log end {ends[-1]}")
