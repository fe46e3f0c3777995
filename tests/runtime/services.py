"""Test-only services the runtime acceptance tests load into real nodes.

Nodes import them as `tests.runtime.services:<Class>` (the tests put the repo root on the
node's PYTHONPATH). `Probe` runs on every shard and records what reaches it; `ApiDriver`
runs on shard 0 and exercises the cross-shard API from inside a shard, returning plain
JSON-able reports that the tests assert on. Every wait here is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from panda import runtime
from panda.runtime import (
    ALL,
    ONE,
    ArgumentEncodeError,
    CrossShardTimeout,
    MemoryBudgetError,
    MessageTooLargeError,
    RemoteError,
    Service,
    UnknownMethodError,
    UnknownServiceError,
    shard_memory,
    smp,
    this_shard,
)

POLL_INTERVAL_S = 0.01
POLL_ROUNDS_MAX = 500          # 5 s at most for any condition we wait on


class ProbeError(Exception):
    """A plain exception the remote side raises: must arrive as its own type."""


class StrictError(Exception):
    """Cannot be rebuilt from its args (keyword-only field): must arrive as RemoteError."""

    def __init__(self, code: int, *, detail: str):
        super().__init__(f"code {code}: {detail}")
        self.code = code


class NotDeployed(Service):
    """A service no node runs: calls to it find UnknownServiceError."""

    name = "not_deployed"

    async def anything(self) -> None:
        raise AssertionError("not reachable")


async def _until(check: Callable[[], Awaitable[bool]]) -> bool:
    """Poll `check` until it is true; False after POLL_ROUNDS_MAX rounds."""
    for _ in range(POLL_ROUNDS_MAX):
        if await check():
            return True
        await asyncio.sleep(POLL_INTERVAL_S)
    return False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Probe(Service):
    """On every shard: answers who and where it is, records what reaches it."""

    name = "probe"
    shards = ALL

    async def start(self) -> None:
        self.told: list[list[Any]] = []
        self.started_tags: set[str] = set()
        self.cancelled_tags: set[str] = set()
        self.received: list[list[Any]] = []

    async def whoami(self) -> list[int]:
        """[this_shard(), smp(), the instance's shard, pid]."""
        return [this_shard(), smp(), self.shard, os.getpid()]

    async def loop_module(self) -> str:
        return type(asyncio.get_running_loop()).__module__

    async def shard_plus_one(self) -> int:
        return self.shard + 1

    async def echo(self, value: Any) -> Any:
        return value

    async def echo_bytes(self, data: bytes) -> bytes:
        return data

    async def boom(self, message: str) -> None:
        raise ProbeError(message)

    async def boom_strict(self) -> None:
        raise StrictError(7, detail="keyword-only")

    async def boom_timeout(self) -> None:
        raise TimeoutError("the remote method's own timeout")

    async def unencodable_result(self) -> Any:
        return object()

    async def bytes_of(self, nbytes: int) -> bytes:
        return b"r" * nbytes

    async def record_told(self, seq: int, value: str) -> None:
        self.told.append([seq, value])

    async def told_values(self) -> list[list[Any]]:
        return self.told

    async def receive(self, seq: int, data: bytes) -> str:
        """Record a (big) message's order and digest; return the digest."""
        digest = _digest(data)
        self.received.append([seq, len(data), digest])
        return digest

    async def received_log(self) -> list[list[Any]]:
        return self.received

    async def clear(self) -> None:
        self.told.clear()
        self.received.clear()

    async def wait_forever(self, tag: str) -> None:
        """Park until cancelled; remember that the cancellation reached us."""
        self.started_tags.add(tag)
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled_tags.add(tag)
            raise

    async def tag_state(self, tag: str) -> list[bool]:
        """[started, cancelled] for a wait_forever call."""
        return [tag in self.started_tags, tag in self.cancelled_tags]

    async def stress(self, count: int, size_max: int, seed: int) -> list[str]:
        """`count` concurrent echo calls of random sizes to every other shard; returns what
        came back wrong (empty when every reply matched its request)."""
        rng = random.Random(seed * 1000 + self.shard)
        probe = runtime.service(Probe)
        peers = [s for s in range(self.smp) if s != self.shard]
        sends = [(peers[i % len(peers)], rng.randbytes(rng.randrange(size_max)))
                 for i in range(count)]
        replies = await asyncio.gather(*(probe.on(peer).echo_bytes(data) for peer, data in sends))
        return [f"call {i} to shard {peer}: {len(data)} bytes came back as {len(reply)}"
                for i, ((peer, data), reply) in enumerate(zip(sends, replies)) if reply != data]

    async def hold(self, seconds: float) -> int:
        """Count concurrent holders; returns the most seen at once on this shard."""
        self._holders = getattr(self, "_holders", 0) + 1
        self._holders_max = max(getattr(self, "_holders_max", 0), self._holders)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._holders -= 1
        return self._holders_max

    async def block_the_loop(self, seconds: float) -> str:
        """Hold the reactor (a programmer error the stall detector must report)."""
        time.sleep(seconds)  # noqa: ASYNC251 - the point: block the loop
        return "blocked"

    async def memory_budget(self) -> int:
        return shard_memory.budget.budget_bytes


class ApiDriver(Service):
    """On shard 0: drives the cross-shard API against Probe and reports what happened."""

    name = "driver"
    shards = ONE(0)

    def _probe(self):
        return runtime.service(Probe)

    async def where(self) -> list[int]:
        return [this_shard(), smp()]

    async def call_other(self) -> list[int]:
        return await self._probe().on(1).whoami()

    async def call_all(self) -> list[list[int]]:
        return await self._probe().on_all().whoami()

    async def map_reduce_sum(self) -> int:
        return await self._probe().map_reduce("shard_plus_one", sum)

    async def map_reduce_max(self) -> int:
        return await self._probe().map_reduce("shard_plus_one", max)

    async def tell_and_collect(self, count: int) -> list[list[Any]]:
        """count one-way calls to shard 1, then what shard 1 recorded (in arrival order)."""
        probe = self._probe()
        await probe.on(1).clear()
        for seq in range(count):
            assert await probe.tell(1).record_told(seq, f"v{seq}") is None

        async def all_arrived() -> bool:
            return len(await probe.on(1).told_values()) >= count

        await _until(all_arrived)
        return await probe.on(1).told_values()

    async def remote_exception(self) -> dict[str, Any]:
        try:
            await self._probe().on(1).boom("it broke over there")
        except ProbeError as exc:
            return _report(exc)
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails
            return {"type": f"wrong: {type(exc).__name__}: {exc}"}
        return {"type": "no exception"}

    async def remote_unrebuildable(self) -> dict[str, Any]:
        try:
            await self._probe().on(1).boom_strict()
        except RemoteError as exc:
            return {**_report(exc), "type_name": exc.type_name,
                    "remote_message": exc.remote_message, "shard": exc.shard}
        except Exception as exc:  # noqa: BLE001
            return {"type": f"wrong: {type(exc).__name__}: {exc}"}
        return {"type": "no exception"}

    async def own_timeout_error(self, shard: int, timeout_s: float | None) -> dict[str, Any]:
        """The called method raises TimeoutError itself: not a CrossShardTimeout."""
        try:
            await self._probe().on(shard, timeout=timeout_s).boom_timeout()
        except Exception as exc:  # noqa: BLE001
            return _report(exc)
        return {"type": "no exception"}

    async def unknown_service(self) -> str:
        try:
            await runtime.service(NotDeployed).on(1).anything()
        except UnknownServiceError as exc:
            return f"UnknownServiceError: {exc}"
        except Exception as exc:  # noqa: BLE001
            return f"wrong: {type(exc).__name__}: {exc}"
        return "no exception"

    async def unknown_method(self) -> str:
        try:
            await self._probe().on(1).no_such_method()
        except UnknownMethodError as exc:
            return f"UnknownMethodError: {exc}"
        except Exception as exc:  # noqa: BLE001
            return f"wrong: {type(exc).__name__}: {exc}"
        return "no exception"

    async def unencodable_argument(self) -> str:
        try:
            await self._probe().on(1).echo(object())
        except ArgumentEncodeError as exc:
            return f"ArgumentEncodeError: {exc}"
        except Exception as exc:  # noqa: BLE001
            return f"wrong: {type(exc).__name__}: {exc}"
        return "no exception"

    async def unencodable_result(self) -> str:
        try:
            await self._probe().on(1).unencodable_result()
        except ArgumentEncodeError as exc:
            return f"ArgumentEncodeError: {exc}"
        except Exception as exc:  # noqa: BLE001
            return f"wrong: {type(exc).__name__}: {exc}"
        return "no exception"

    async def too_large_argument(self, nbytes: int) -> str:
        try:
            await self._probe().on(1).echo_bytes(b"a" * nbytes)
        except MessageTooLargeError as exc:
            return f"MessageTooLargeError: {exc}"
        except Exception as exc:  # noqa: BLE001
            return f"wrong: {type(exc).__name__}: {exc}"
        return "no exception"

    async def too_large_result(self, nbytes: int) -> str:
        try:
            await self._probe().on(1).bytes_of(nbytes)
        except MessageTooLargeError as exc:
            return f"MessageTooLargeError: {exc}"
        except Exception as exc:  # noqa: BLE001
            return f"wrong: {type(exc).__name__}: {exc}"
        return "no exception"

    async def big_messages(self, sizes: list[int]) -> dict[str, Any]:
        """Send messages of `sizes` bytes to shard 1 concurrently (calls) and as one-way
        calls; echo one back; report digests and arrival order on both paths."""
        probe = self._probe()
        await probe.on(1).clear()
        payloads = [os.urandom(64) * (size // 64) + os.urandom(size % 64) for size in sizes]
        sent = [_digest(p) for p in payloads]
        replies = await asyncio.gather(
            *(probe.on(1).receive(seq, p) for seq, p in enumerate(payloads)))
        called = await probe.on(1).received_log()
        await probe.on(1).clear()
        for seq, payload in enumerate(payloads):
            await probe.tell(1).receive(seq, payload)

        async def all_arrived() -> bool:
            return len(await probe.on(1).received_log()) >= len(payloads)

        await _until(all_arrived)
        told = await probe.on(1).received_log()
        echoed = await probe.on(1).echo_bytes(payloads[-1])
        return {"sent": sent, "replies": list(replies), "called": called, "told": told,
                "echo_intact": echoed == payloads[-1]}

    async def echo_sizes(self, sizes: list[int]) -> list[int]:
        """Round-trip a payload of each size through shard 1, one at a time and then all
        at once; returns the sizes that came back altered."""
        probe = self._probe()
        payloads = [bytes((i * 7 + size) % 251 for i in range(size)) for size in sizes]
        bad = [size for size, p in zip(sizes, payloads) if await probe.on(1).echo_bytes(p) != p]
        echoed = await asyncio.gather(*(probe.on(1).echo_bytes(p) for p in payloads))
        bad += [size for size, p, e in zip(sizes, payloads, echoed) if e != p]
        return bad

    async def timeout_cancels_remote(self, tag: str, timeout_s: float) -> dict[str, Any]:
        probe = self._probe()
        started = time.monotonic()
        try:
            await probe.on(1, timeout=timeout_s).wait_forever(tag)
            raised = "no exception"
        except CrossShardTimeout as exc:
            raised = f"CrossShardTimeout: {exc}"
        except Exception as exc:  # noqa: BLE001
            raised = f"wrong: {type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - started

        async def remote_cancelled() -> bool:
            return (await probe.on(1).tag_state(tag))[1]

        await _until(remote_cancelled)
        return {"raised": raised, "elapsed_s": elapsed, "state": await probe.on(1).tag_state(tag)}

    async def cancel_cancels_remote(self, tag: str) -> dict[str, Any]:
        probe = self._probe()
        task = asyncio.get_running_loop().create_task(probe.on(1).wait_forever(tag))

        async def remote_started() -> bool:
            return (await probe.on(1).tag_state(tag))[0]

        started = await _until(remote_started)
        task.cancel()
        try:
            await task
            outcome = "completed"
        except asyncio.CancelledError:
            outcome = "cancelled"
        except Exception as exc:  # noqa: BLE001
            outcome = f"wrong: {type(exc).__name__}: {exc}"

        async def remote_cancelled() -> bool:
            return (await probe.on(1).tag_state(tag))[1]

        await _until(remote_cancelled)
        return {"started": started, "outcome": outcome,
                "state": await probe.on(1).tag_state(tag)}

    async def stress_everywhere(self, count: int, size_max: int, seed: int) -> list[str]:
        """Every shard stresses every other shard at the same time."""
        results = await self._probe().on_all().stress(count, size_max, seed)
        return [problem for shard in results for problem in shard]

    async def keyword_arguments(self) -> list[Any]:
        probe = self._probe()
        return [await probe.on(1).echo(value={"k": 1}),
                await probe.on(1).record_told(seq=3, value="kw"),
                (await probe.on(1).told_values())[-1]]

    async def concurrent_calls(self, count: int, hold_s: float) -> int:
        """`count` calls at once to shard 1; the most that ran there concurrently."""
        results = await asyncio.gather(*(self._probe().on(1).hold(hold_s) for _ in range(count)))
        return max(results)

    async def local_timeout(self, tag: str) -> str:
        """A timeout on a call to this very shard (no hop) also raises CrossShardTimeout."""
        try:
            await self._probe().on(0, timeout=0.05).wait_forever(tag)
        except CrossShardTimeout as exc:
            return f"CrossShardTimeout: {exc}"
        except Exception as exc:  # noqa: BLE001
            return f"wrong: {type(exc).__name__}: {exc}"
        return "no exception"


def _report(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "module": type(exc).__module__, "message": str(exc),
            "remote_traceback": getattr(exc, "remote_traceback", ""),
            "remote_shard": getattr(exc, "remote_shard", None)}


class MemoryDriver(Service):
    """On every shard: exercises shard_memory.reserve and reports the grant order."""

    name = "memdriver"
    shards = ALL

    async def budget(self) -> int:
        return shard_memory.budget.budget_bytes

    async def fifo(self) -> dict[str, Any]:
        """A holds 60%; B asks 60% (waits), then C asks 10% (fits, but must queue behind B).
        A releases: B then C are granted. Then a reservation over the budget fails."""
        budget = shard_memory.budget.budget_bytes
        big, small = budget * 6 // 10, budget // 10
        events: list[str] = []
        release_a = asyncio.Event()
        release_b = asyncio.Event()

        async def holder(tag: str, nbytes: int, release: asyncio.Event | None) -> None:
            async with shard_memory.reserve(nbytes):
                events.append(f"{tag} granted")
                if release is not None:
                    await release.wait()
            events.append(f"{tag} released")

        loop = asyncio.get_running_loop()
        a = loop.create_task(holder("A", big, release_a))
        await asyncio.sleep(0.01)
        b = loop.create_task(holder("B", big, release_b))
        await asyncio.sleep(0.01)
        c = loop.create_task(holder("C", small, None))
        await asyncio.sleep(0.05)
        waiting = list(events)
        reserved_while_waiting = shard_memory.budget.reserved_bytes
        release_a.set()
        await asyncio.sleep(0.01)
        after_a = list(events)
        release_b.set()
        await asyncio.wait_for(asyncio.gather(a, b, c), 5)
        try:
            async with shard_memory.reserve(budget + 1):
                over = "no exception"
        except MemoryBudgetError as exc:
            over = f"MemoryBudgetError: {exc}"
        return {"budget": budget, "waiting": waiting, "after_a": after_a, "events": events,
                "reserved_while_waiting": reserved_while_waiting,
                "reserved_after": shard_memory.budget.reserved_bytes, "over": over}


class Lifecycle(Service):
    """Base of the recorder services: appends 'start|stop <service> <shard>' to a file in
    the data dir, one O_APPEND write per event (atomic across shard processes)."""

    shards = ALL

    def _write(self, event: str) -> None:
        directory = runtime.current().config.data_dir
        os.makedirs(directory, exist_ok=True)
        line = f"{event} {self.service_name()} {self.shard}\n".encode()
        fd = os.open(os.path.join(directory, "lifecycle.log"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    async def start(self) -> None:
        self._write("start")

    async def stop(self) -> None:
        self._write("stop")

    async def ping(self) -> int:
        return self.shard


class Storage(Lifecycle):
    name = "rec_storage"


class Raft(Lifecycle):
    name = "rec_raft"
    depends = ("rec_storage",)


class Broker(Lifecycle):
    name = "rec_broker"
    depends = (Raft, "rec_storage")


class FailingStart(Service):
    """Its start raises on shard 1: the node must not come up, and must say why."""

    name = "failing_start"
    shards = ALL

    async def start(self) -> None:
        if self.shard == 1:
            raise RuntimeError("failing_start refuses to start on purpose")


class FailingStop(Service):
    """Its stop raises on shard 1: every other service must still stop."""

    name = "failing_stop"
    shards = ALL

    async def stop(self) -> None:
        if self.shard == 1:
            raise RuntimeError("failing_stop refuses to stop on purpose")


class Invariant(Service):
    """A method whose assert fails: a programmer bug that must take the node down."""

    name = "invariant"

    async def broken(self) -> None:
        raise AssertionError("the invariant does not hold")
