"""Cross-shard call benchmark: `on(other).echo(payload)` round trips and one-way throughput
through the whole Service API, against multiprocessing.Queue and pyzmq ipc:// measured in the
same run on the same two CPUs.

    python -m panda.bench.ring [--runs 3] [--json] [--quick]

Every figure is the median of --runs repeated runs, with min and max beside it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from panda import runtime
from panda.runtime import ALL, Service

RTT_SIZES = (64, 4096)
RUNTIME_ONLY_SERVICES = "panda.services.admin:AdminService"
ONE_WAY_SIZES = (64, 4096, 1 << 20)


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0

    return {"p50_us": at(0.50), "p99_us": at(0.99), "p999_us": at(0.999)}


def _one_way_counts(size: int, quick: bool) -> int:
    budget_bytes = (256 << 20) if quick else (1 << 30)
    return max(200, min(200_000 if not quick else 50_000, budget_bytes // size))


class RingBench(Service):
    """Runs the measurements inside the node: shard 0 calls shard 1."""

    name = "ringbench"
    shards = ALL

    async def start(self) -> None:
        self.received = 0
        self.received_bytes = 0

    async def echo(self, payload: bytes) -> bytes:
        return payload

    def echo_sync(self, payload: bytes) -> bytes:
        """A plain (non-async) method: the reactor runs it inline, no task."""
        return payload

    def sink(self, payload: bytes) -> None:
        self.received += 1
        self.received_bytes += len(payload)

    def counters(self) -> list[int]:
        return [self.received, self.received_bytes]

    async def rtt(self, size: int, count: int, method: str) -> dict[str, float]:
        proxy = runtime.service(RingBench).on(1 - self.shard)
        call = getattr(proxy, method)
        payload = b"x" * size
        clock = time.perf_counter_ns
        for _ in range(min(2000, count)):
            await call(payload)
        samples = []
        for _ in range(count):
            start = clock()
            await call(payload)
            samples.append(clock() - start)
        return _percentiles(samples)

    async def one_way(self, size: int, count: int) -> dict[str, float]:
        ref = runtime.service(RingBench)
        other = 1 - self.shard
        before = (await ref.on(other).counters())[0]
        sink = ref.tell(other).sink
        payload = b"x" * size
        start = time.perf_counter()
        for _ in range(count):
            await sink(payload)
        received = (await ref.on(other).counters())[0] - before
        elapsed = time.perf_counter() - start
        assert received == count, f"sent {count}, received {received}"
        return {"msgs_per_s": count / elapsed, "mb_per_s": count * size / elapsed / 1e6}


# -- baselines, in two plain processes pinned like the shards -----------------------------
def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _mpq_peer(cpu, inbox, outbox) -> None:
    _pin(cpu)
    while True:
        item = inbox.get()
        if item is None:
            return
        if isinstance(item, tuple):          # one-way batch: ("count", n)
            for _ in range(item[1]):
                inbox.get()
            outbox.put(b"done")
        else:
            outbox.put(item)


def _zmq_peer(cpu, address) -> None:
    import zmq

    _pin(cpu)
    sock: zmq.Socket = zmq.Context.instance().socket(zmq.PAIR)
    sock.connect(address)
    while True:
        item = sock.recv()
        if item == b"stop":
            return
        if item.startswith(b"count:"):
            for _ in range(int(item[6:])):
                sock.recv()
            sock.send(b"done")
        else:
            sock.send(item)


class _Baseline:
    def __init__(self, transport: str, cpus: list[int | None]):
        self.transport = transport
        _pin(cpus[0])
        ctx = multiprocessing.get_context("fork")
        if transport == "mp.Queue":
            self._to, self._from = ctx.Queue(), ctx.Queue()
            self._peer = ctx.Process(target=_mpq_peer, args=(cpus[1], self._to, self._from))
            self._peer.start()
        else:
            import zmq

            self._dir = tempfile.mkdtemp(prefix="panda-bench-")
            address = f"ipc://{self._dir}/pair"
            self._sock: zmq.Socket = zmq.Context.instance().socket(zmq.PAIR)
            self._sock.bind(address)
            self._peer = ctx.Process(target=_zmq_peer, args=(cpus[1], address))
            self._peer.start()

    def send(self, item: bytes) -> None:
        if self.transport == "mp.Queue":
            self._to.put(item)
        else:
            self._sock.send(item)

    def recv(self) -> bytes:
        return self._from.get() if self.transport == "mp.Queue" else self._sock.recv()

    def rtt(self, size: int, count: int) -> dict[str, float]:
        payload = b"x" * size
        for _ in range(min(2000, count)):
            self.send(payload)
            self.recv()
        samples = []
        clock = time.perf_counter_ns
        for _ in range(count):
            start = clock()
            self.send(payload)
            self.recv()
            samples.append(clock() - start)
        return _percentiles(samples)

    def one_way(self, size: int, count: int) -> dict[str, float]:
        payload = b"x" * size
        start = time.perf_counter()
        if self.transport == "mp.Queue":
            self._to.put(("count", count))
        else:
            self._sock.send(f"count:{count}".encode())
        for _ in range(count):
            self.send(payload)
        self.recv()
        elapsed = time.perf_counter() - start
        return {"msgs_per_s": count / elapsed, "mb_per_s": count * size / elapsed / 1e6}

    def close(self) -> None:
        if self.transport == "mp.Queue":
            self._to.put(None)
        else:
            self._sock.send(b"stop")
        self._peer.join(10)
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


# -- the node under test ------------------------------------------------------------------
class _Node:
    def __init__(self, args: list[str]):
        from panda.testing import NodeProcess

        self._dir = tempfile.TemporaryDirectory(prefix="panda-bench-")
        # The runtime alone (admin + RingBench): the broker's timers are not under test here.
        self.node = NodeProcess(Path(self._dir.name), smp=2,
                                services=["panda.bench.ring:RingBench"], args=args,
                                env={"PANDA_SERVICES": RUNTIME_ONLY_SERVICES}).start()

    def call(self, method: str, *args: Any) -> Any:
        return self.node.call("ringbench", method, *args, shard=0, timeout_s=600)

    def idle_cpu_percent(self, settle_s: float = 1.0, window_s: float = 3.0) -> float:
        time.sleep(settle_s)
        shards = [psutil.Process(pid) for pid in self.node.shard_pids()]
        before = [sum(p.cpu_times()[:2]) for p in shards]
        time.sleep(window_s)
        after = [sum(p.cpu_times()[:2]) for p in shards]
        return 100.0 * sum(a - b for a, b in zip(after, before)) / window_s

    def close(self) -> None:
        self.node.stop()
        self._dir.cleanup()


Case = tuple[str, str, int, Callable[[Any], dict[str, float]]]


def _cases(quick: bool) -> list[Case]:
    rtt_count = 5_000 if quick else 20_000
    cases: list[Case] = []
    for size in RTT_SIZES:
        cases.append(("panda", "rtt", size, partial(_node_call, "rtt", size, rtt_count, "echo")))
        cases.append(("panda (sync method)", "rtt", size,
                      partial(_node_call, "rtt", size, rtt_count, "echo_sync")))
    for size in ONE_WAY_SIZES:
        cases.append(("panda", "one-way", size,
                      partial(_node_call, "one_way", size, _one_way_counts(size, quick))))
    for transport in ("mp.Queue", "pyzmq ipc"):
        for size in RTT_SIZES:
            cases.append((transport, "rtt", size, partial(_baseline_rtt, size, rtt_count)))
        for size in ONE_WAY_SIZES:
            cases.append((transport, "one-way", size,
                          partial(_baseline_one_way, size, _one_way_counts(size, quick))))
    return cases


def _node_call(method: str, *args_then_node: Any) -> dict[str, float]:
    *args, node = args_then_node
    return node.call(method, *args)


def _baseline_rtt(size: int, count: int, baseline: Any) -> dict[str, float]:
    return baseline.rtt(size, count)


def _baseline_one_way(size: int, count: int, baseline: Any) -> dict[str, float]:
    return baseline.one_way(size, count)


def run(runs: int, quick: bool, overprovisioned: bool) -> list[dict[str, Any]]:
    cpus: list[int | None] = [None, None]
    if not overprovisioned:
        cpus = list(sorted(os.sched_getaffinity(0))[:2])
    node_args = ["--overprovisioned"] if overprovisioned else []
    cases = _cases(quick)
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    idle: list[float] = []
    for _ in range(runs):
        node = _Node(node_args)
        try:
            for transport, kind, size, fn in cases:
                if transport.startswith("panda"):
                    results.setdefault((transport, kind, size), []).append(fn(node))
            idle.append(node.idle_cpu_percent())
        finally:
            node.close()
        for transport in ("mp.Queue", "pyzmq ipc"):
            baseline = _Baseline(transport, cpus)
            try:
                for name, kind, size, fn in cases:
                    if name == transport:
                        results.setdefault((name, kind, size), []).append(fn(baseline))
            finally:
                baseline.close()
    out = [_summarise(key, values) for key, values in results.items()]
    out.append(_summarise(("panda", "idle-cpu", 0), [{"cpu_percent_of_one_core": v} for v in idle]))
    return out


def _summarise(key: tuple[str, str, int], values: list[dict[str, float]]) -> dict[str, Any]:
    transport, kind, size = key
    figures = {}
    for name in values[0]:
        series = [v[name] for v in values]
        figures[name] = {"median": statistics.median(series), "min": min(series),
                         "max": max(series)}
    return {"transport": transport, "kind": kind, "payload_bytes": size, "runs": len(values),
            "figures": figures}


def _table(results: list[dict[str, Any]]) -> str:
    lines = ["| transport | case | payload | figure | median | min | max |",
             "|---|---|---|---|---|---|---|"]
    for case in results:
        for name, f in case["figures"].items():
            lines.append(f"| {case['transport']} | {case['kind']} | {case['payload_bytes']} B "
                         f"| {name} | {f['median']:,.1f} | {f['min']:,.1f} | {f['max']:,.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer messages per case")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--overprovisioned", action="store_true", help="no pinning, no polling")
    args = parser.parse_args(argv)
    results = run(args.runs, args.quick, args.overprovisioned)
    if args.json:
        print(json.dumps({"benchmark": "ring", "runs": args.runs, "cases": results}))
    else:
        print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
