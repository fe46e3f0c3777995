"""Random append / truncate / prefix-truncate / reopen sequences match a simple in-memory model."""

from __future__ import annotations

import asyncio
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from panda.storage import record_batch as rb
from panda.storage.config import StorageConfig, TopicConfig
from panda.storage.log_manager import LogManager

from .conftest import make_batch

pytestmark = pytest.mark.sim


class LogModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.mkdtemp(prefix="panda-model-")
        self.config = StorageConfig(
            data_dir=self.dir,
            default_topic=TopicConfig(segment_bytes=4096),
            index_interval_bytes=256,
            batch_cache_bytes_max=2048,
            fallocate_bytes=8192,
        )
        self.batches: list[tuple[int, int, bytes]] = []  # (base, term, bytes as sent)
        self.start = 0
        self.next = 0
        self.term = 0
        self.manager, self.log = self.loop.run_until_complete(self._open())

    async def _open(self):
        manager = await LogManager(self.config).start(housekeeping=False)
        return manager, await manager.open_log("m-0")

    def _run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, 5))

    @rule(
        n=st.integers(1, 5),
        size=st.integers(1, 700),
        durable=st.booleans(),
        new_term=st.booleans(),
        seed=st.integers(0, 250),
    )
    def append(self, n, size, durable, new_term, seed):
        self.term += int(new_term)
        data = make_batch(n, value_bytes=size, seed=seed)
        base = self._run(self.log.append(data, term=self.term, durable=durable))
        assert base == self.next
        self.batches.append((base, self.term, data))
        self.next = base + n

    @precondition(lambda self: self.next > self.start)
    @rule(data=st.data())
    def truncate(self, data):
        offset = data.draw(st.integers(self.start, self.next - 1))
        self._run(self.log.truncate(offset))
        self.batches = [b for b in self.batches if b[0] + _count(b[2]) - 1 < offset]
        end = self.batches[-1][0] + _count(self.batches[-1][2]) if self.batches else 0
        self.next = max(end, self.start)

    @precondition(lambda self: self.next > self.start)
    @rule(data=st.data())
    def prefix_truncate(self, data):
        offset = data.draw(st.integers(self.start, self.next))
        self._run(self.log.prefix_truncate(offset))
        self.start = max(self.start, offset)

    @rule()
    def reopen(self):
        self._run(self.manager.stop())
        self.manager, self.log = self._run(self._open())

    @invariant()
    def matches_model(self):
        assert (self.log.start_offset, self.log.next_offset) == (self.start, self.next)
        if self.next == self.start:
            return
        result = self.log.read(self.start, 1 << 30)
        expected = [b for b in self.batches if b[0] + _count(b[2]) > self.start]
        assert len(result.batches) == len(expected)
        for view, (base, term, sent) in zip(result.batches, expected):
            want = bytearray(sent)
            rb.set_base_offset(want, 0, base)
            rb.set_partition_leader_epoch(want, 0, term)
            assert bytes(view) == bytes(want)

    def teardown(self):
        self._run(self.manager.stop())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _count(batch: bytes) -> int:
    return rb.read_header(batch).last_offset_delta + 1


LogModel.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLogModel = LogModel.TestCase
