"""Per-shard memory: each shard's budget is (memory - reserve) / smp; shard_memory.reserve(n)
admits in FIFO order, waits instead of overcommitting, refuses what can never fit; resident
memory per shard is a metric. MemoryBudget is unit-tested here too, on a plain asyncio loop."""

from __future__ import annotations

import asyncio

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from panda.runtime import MemoryBudget, MemoryBudgetError
from panda.runtime.memory import RESERVE_BYTES_MIN, RESERVE_FRACTION, plan_budgets

from .conftest import NODE_ENV, spec

MiB = 1 << 20
RAM = psutil.virtual_memory().total


# -- the plan -----------------------------------------------------------------------------
def test_budget_is_memory_minus_reserve_over_smp():
    assert plan_budgets(2, 1024 * MiB, 256 * MiB) == 384 * MiB
    assert plan_budgets(4, 1024 * MiB, 0) == 256 * MiB
    assert plan_budgets(3, 1000 * MiB, 100 * MiB) == 900 * MiB // 3


def test_memory_alone_has_no_reserve_and_defaults_reserve_part_of_the_ram():
    assert plan_budgets(2, 512 * MiB, None) == 256 * MiB
    reserve = max(RESERVE_BYTES_MIN, int(RAM * RESERVE_FRACTION))
    assert plan_budgets(2, None, None) == (RAM - reserve) // 2
    assert plan_budgets(2, None, 1024 * MiB) == (RAM - 1024 * MiB) // 2
    assert plan_budgets(1, RAM * 4, 0) == RAM                # capped at the machine's RAM


@pytest.mark.parametrize("memory, reserve, smp", [
    (20 * MiB, None, 2), (256 * MiB, 256 * MiB, 1), (100 * MiB, 200 * MiB, 1),
])
def test_a_budget_under_16_mib_a_shard_is_refused(memory, reserve, smp):
    with pytest.raises(MemoryBudgetError, match="memory"):
        plan_budgets(smp, memory, reserve)


# -- MemoryBudget, unit -------------------------------------------------------------------
def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 5))


def test_reservations_are_granted_in_fifo_order():
    async def scenario():
        budget = MemoryBudget(100)
        order: list[str] = []
        await budget.acquire(60)

        async def want(tag: str, n: int) -> None:
            await budget.acquire(n)
            order.append(tag)

        b = asyncio.create_task(want("B", 60))
        await asyncio.sleep(0)
        c = asyncio.create_task(want("C", 10))       # fits now, but B asked first
        await asyncio.sleep(0.01)
        assert order == [] and budget.statistics()["waiters"] == 2
        assert not budget.try_acquire(1)              # nobody jumps the queue
        budget.release(60)
        await asyncio.gather(b, c)
        assert order == ["B", "C"]
        assert budget.statistics() == {"budget_bytes": 100, "reserved_bytes": 70,
                                       "waiters": 0, "waits": 2}
        budget.release(60)
        budget.release(10)
        assert budget.reserved_bytes == 0

    run(scenario())


def test_reserve_holds_the_bytes_for_the_block_only():
    async def scenario():
        budget = MemoryBudget(100)
        async with budget.reserve(40):
            assert budget.reserved_bytes == 40
            with pytest.raises(ZeroDivisionError):
                async with budget.reserve(60):
                    assert budget.reserved_bytes == 100
                    raise ZeroDivisionError
            assert budget.reserved_bytes == 40
        assert budget.reserved_bytes == 0

    run(scenario())


def test_a_reservation_over_the_whole_budget_raises_at_once():
    async def scenario():
        budget = MemoryBudget(100)
        with pytest.raises(MemoryBudgetError, match="budget is 100"):
            await budget.acquire(101)
        with pytest.raises(MemoryBudgetError):
            async with budget.reserve(1000):
                pass
        assert budget.reserved_bytes == 0
        await budget.acquire(100)                     # exactly the budget is fine

    run(scenario())


def test_a_negative_reservation_is_refused():
    async def scenario():
        budget = MemoryBudget(100)
        with pytest.raises(ValueError, match="negative"):
            await budget.acquire(-50)
        with pytest.raises(ValueError, match="negative"):
            budget.try_acquire(-1)
        assert budget.reserved_bytes == 0
        await budget.acquire(0)
        assert budget.try_acquire(100) and not budget.try_acquire(1)

    run(scenario())


def test_a_cancelled_waiter_leaves_the_queue_and_unblocks_those_behind_it():
    async def scenario():
        budget = MemoryBudget(100)
        await budget.acquire(50)
        big = asyncio.create_task(budget.acquire(80))
        await asyncio.sleep(0)
        small = asyncio.create_task(budget.acquire(30))
        await asyncio.sleep(0)
        big.cancel()
        with pytest.raises(asyncio.CancelledError):
            await big
        await small                                   # no longer behind the 80
        assert budget.reserved_bytes == 80 and budget.statistics()["waiters"] == 0

    run(scenario())


def test_a_waiter_cancelled_just_as_bytes_are_released_does_not_break_the_release():
    async def scenario():
        budget = MemoryBudget(100)
        await budget.acquire(100)
        waiter = asyncio.create_task(budget.acquire(100))
        behind = asyncio.create_task(budget.acquire(10))
        await asyncio.sleep(0)
        waiter.cancel()               # its future is cancelled now; the task runs later
        budget.release(100)           # in the same tick: must skip the cancelled waiter
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await behind
        assert budget.reserved_bytes == 10 and budget.statistics()["waiters"] == 0

    run(scenario())


def test_a_waiter_granted_just_as_it_is_cancelled_gives_the_bytes_back():
    async def scenario():
        budget = MemoryBudget(100)
        await budget.acquire(100)
        waiter = asyncio.create_task(budget.acquire(60))
        await asyncio.sleep(0)
        budget.release(100)           # grants the waiter (its future is done) ...
        waiter.cancel()               # ... but the task is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert budget.reserved_bytes == 0

    run(scenario())


# -- in a node ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def node(module_node):
    return module_node(smp=2, services=[spec("MemoryDriver")],
                       args=["--overprovisioned", "--memory", "1G", "--reserve-memory", "256M"])


def test_each_shard_gets_memory_minus_reserve_over_smp(node):
    assert [node.call("memdriver", "budget", shard=s) for s in (0, 1)] == [384 * MiB] * 2
    budgets = {s.labels["shard"]: s.value
               for f in text_string_to_metric_families(node.metrics())
               if f.name == "panda_memory_budget_bytes" for s in f.samples}
    assert budgets == {"0": 384 * MiB, "1": 384 * MiB}


@pytest.mark.parametrize("shard", [0, 1])
def test_shard_memory_reserve_waits_fifo_and_refuses_over_budget(node, shard):
    report = node.call("memdriver", "fifo", shard=shard)
    budget = report["budget"]
    assert report["waiting"] == ["A granted"]         # B waits, and C waits behind B
    assert report["reserved_while_waiting"] == budget * 6 // 10
    assert report["after_a"].index("B granted") < report["after_a"].index("C granted")
    assert report["reserved_after"] == 0
    assert report["over"].startswith("MemoryBudgetError: ")


def test_resident_memory_of_every_shard_is_a_metric(node):
    rss = {s.labels["shard"]: s.value for f in text_string_to_metric_families(node.metrics())
           if f.name == "panda_memory_rss_bytes" for s in f.samples}
    assert set(rss) == {"0", "1"}
    pids = node.shard_pids()
    actual = sorted(psutil.Process(pid).memory_info().rss for pid in pids)
    for value in rss.values():
        assert 8 * MiB < value < 2048 * MiB
    # each reported value is close to one shard process's own RSS (within 50%)
    for value in rss.values():
        assert any(abs(value - real) < real / 2 for real in actual), (rss, actual)


def test_a_node_with_too_little_memory_refuses_to_start(panda_node):
    node = panda_node(smp=2, args=["--overprovisioned", "--memory", "24M"], env=NODE_ENV,
                      wait=False)
    assert node.process.wait(30) == 2
    assert "memory" in node.log() and "16 MiB" in node.log()
