"""Reporting of bench/kafka.py: the JSON document, the Markdown tables and the PNG plots.

Figures are medians of the runs with min and max; ratios are panda / tansu of the medians
(above 1 is better for throughput, below 1 is better for latency, CPU and RSS). Plotting
needs matplotlib and draws nothing else than files in the directory it is given.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from panda.bench._hdr import Histogram

PERCENTILES = ("p50", "p90", "p99", "p999", "p9999", "max")
PERCENTILE_LABELS = ("p50", "p90", "p99", "p99.9", "p99.99", "max")
METRICS: dict[str, tuple[str, str | int]] = {
    "produce_msgs_per_s": ("produce", "msgs_per_s"),
    "produce_mb_per_s": ("produce", "mb_per_s"),
    "consume_msgs_per_s": ("consume", "msgs_per_s"),
    "broker_cpu_percent_of_one_core": ("broker_usage", "cpu_percent_of_one_core"),
    "broker_rss_mb_max": ("broker_usage", "rss_mb_max"),
    "machine_cpu_busy_percent": ("broker_usage", "machine_cpu_busy_percent"),
    "loadavg_1m": ("loadavg_start", 0),
    **{f"publish_{p}_ms": ("publish_latency_ms", p) for p in PERCENTILES},
    **{f"e2e_{p}_ms": ("e2e_latency_ms", p) for p in PERCENTILES},
}


CONDITIONS = ("machine_cpu_busy_percent", "loadavg_1m")  # the machine's, not the broker's


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {name: _spread([r[group][key] for r in runs]) for name, (group, key) in
            METRICS.items()}


def _ratios(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    return {m: (ours[m]["median"] / base[m]["median"] if base[m]["median"] else None)
            for m in METRICS if m not in CONDITIONS}


def _merged(runs: list[dict[str, Any]], kind: str) -> Histogram:
    hist = Histogram()
    for r in runs:
        hist.merge(r["_hist"][kind])
    return hist


def _public(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if not k.startswith("_")}


def document(workloads: list, results: list[dict[str, Any]], args: Any, started: str,
             versions: dict[str, Any], host: dict[str, Any]) -> dict[str, Any]:
    """The whole run as one JSON-able document."""
    out = []
    summaries: dict[str, dict[str, Any]] = {}
    for w in workloads:
        runs = [r for r in results if r["workload"] == w.name]
        by_broker = {b: [r for r in runs if r["broker"] == b] for b in args.brokers}
        summary = {b: summarise(rs) for b, rs in by_broker.items() if rs}
        summaries[w.name] = summary
        entry: dict[str, Any] = {
            "name": w.name, "title": w.title, "config": {k: v for k, v in asdict(w).items()
                                                         if k != "extra"},
            "peer_skipped": None if w.peer is True or "tansu" not in args.brokers
            else (w.peer or "not run"),
            "summary": summary, "runs": [_public(r) for r in runs],
            "curves": {b: {k: _merged(rs, k).curve() for k in ("publish", "e2e")}
                       for b, rs in by_broker.items() if rs},
        }
        if "panda" in summary and "tansu" in summary:
            entry["ratios_panda_over_tansu"] = _ratios(summary["panda"], summary["tansu"])
        out.append(entry)
    for entry in out:
        other = entry["config"]["compare_with"]
        if other and "panda" in entry["summary"] and "panda" in summaries.get(other, {}):
            entry[f"ratios_over_{other}_panda"] = _ratios(entry["summary"]["panda"],
                                                          summaries[other]["panda"])
    return {"benchmark": "kafka", "started_utc": started, "runs": args.runs,
            "brokers": args.brokers, "versions": versions, "host": host, "workloads": out}


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _cell(spread: dict[str, float]) -> str:
    return f"{_fmt(spread['median'])} [{_fmt(spread['min'])}–{_fmt(spread['max'])}]"


def markdown(doc: dict[str, Any]) -> str:
    """Two tables: throughput and resources, then latency percentiles."""
    lines = [_preamble(doc), "",
             f"Throughput and broker resources, median [min–max] of {doc['runs']} run(s):", "",
             ("| workload | broker | produce msgs/s | produce MB/s | consume msgs/s "
              "| broker CPU % of a core | broker RSS MB | machine CPU busy % | load avg 1 min |"),
             "|---|---|---|---|---|---|---|---|---|"]
    cols = ("produce_msgs_per_s", "produce_mb_per_s", "consume_msgs_per_s",
            "broker_cpu_percent_of_one_core", "broker_rss_mb_max", "machine_cpu_busy_percent",
            "loadavg_1m")
    for w in doc["workloads"]:
        for b, s in w["summary"].items():
            lines.append(f"| {w['name']} | {_broker_label(doc, w, b)} | "
                         + " | ".join(_cell(s[c]) for c in cols) + " |")
        for key, label in _ratio_rows(w):
            lines.append(f"| {w['name']} | {label} | "
                         + " | ".join(_fmt(w[key].get(c)) for c in cols) + " |")
    lines += ["", (f"Latency in ms, median of {doc['runs']} run(s) (publish: produce call, or "
                   "intended send time at a fixed rate, to delivery report; e2e: producer stamp "
                   "to consumer receipt):"), "",
              "| workload | latency | broker | " + " | ".join(PERCENTILE_LABELS) + " |",
              "|---|---|---|" + "---|" * len(PERCENTILES)]
    for w in doc["workloads"]:
        for kind in ("publish", "e2e") if w["config"]["consumers"] else ("publish",):
            for b, s in w["summary"].items():
                lines.append(f"| {w['name']} | {kind} | {_broker_label(doc, w, b)} | " + " | ".join(
                    _fmt(s[f"{kind}_{p}_ms"]["median"]) for p in PERCENTILES) + " |")
            for key, label in _ratio_rows(w):
                lines.append(f"| {w['name']} | {kind} | {label} | " + " | ".join(
                    _fmt(w[key][f"{kind}_{p}_ms"]) for p in PERCENTILES) + " |")
    notes = [f"- `{w['name']}`: Tansu not run: {w['peer_skipped']}" for w in doc["workloads"]
             if w["peer_skipped"]]
    notes += _losses(doc)
    return "\n".join(lines + ([""] + notes if notes else []))


def _losses(doc: dict[str, Any]) -> list[str]:
    """Runs where messages failed, stayed unacknowledged, or were never sent on time."""
    out = []
    for w in doc["workloads"]:
        for r in w["runs"]:
            p = r["produce"]
            if p["failed"] or p["unflushed"] or p["behind_schedule"]:
                out.append(f"- `{w['name']}` {r['broker']} run {r['run'] + 1}: {p['failed']} "
                           f"failed, {p['unflushed']} unacknowledged at the end, "
                           f"{p['behind_schedule']} not sent (producer 10 s behind schedule); "
                           f"errors: {'; '.join(r['errors'][:3]) or 'none'}")
    return out


def _broker_label(doc: dict[str, Any], w: dict[str, Any], broker: str) -> str:
    if broker != "panda":
        return broker
    settings = "".join(f" {k.removeprefix('PANDA_').lower()}={v}"
                       for k, v in w["config"].get("panda_env", {}).items())
    return f"panda --smp {w['config']['smp']}{settings}"


def _ratio_rows(w: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    if "ratios_panda_over_tansu" in w:
        rows.append(("ratios_panda_over_tansu", "**panda / tansu**"))
    other = w["config"]["compare_with"]
    if f"ratios_over_{other}_panda" in w:
        rows.append((f"ratios_over_{other}_panda", f"**panda / panda in {other}**"))
    return rows


def _preamble(doc: dict[str, Any]) -> str:
    v, h = doc["versions"], doc["host"]
    tansu = v.get("tansu")
    peer = (f"{tansu['version']} ({tansu['package']}), in-memory storage" if tansu
            else "not run")
    return (f"Run {doc['started_utc']}, {v['cpus']} CPUs, load average (1 min) "
            f"{h['loadavg_start'][0]:.2f} at start, {h['loadavg_end'][0]:.2f} at end. "
            f"Client confluent-kafka {v['client']['confluent_kafka']} (librdkafka "
            f"{v['client']['librdkafka']}), Python {v['python']}, histograms: {v['histogram']}. "
            f"panda-runtime {' '.join(h['panda_args'])}: {v['panda']['storage']}, tree at "
            f"{h.get('git_head_start') or '?'} (start) / {h.get('git_head_end') or '?'} (end). "
            f"Peer: {peer}.{_disk(h)}")


def _disk(host: dict[str, Any]) -> str:
    disk = host.get("disk_fdatasync_ms")
    if not disk:
        return ""
    b, a = disk["before"], disk["after"]
    return (f" Disk, raw 16 KiB O_DIRECT write + fdatasync in this run: p50 {b['p50']:.3f} ms "
            f"before / {a['p50']:.3f} ms after the suite (p99 {b['p99']:.3f} / {a['p99']:.3f}).")


def plots(doc: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One PNG per workload: latency percentile curves and throughput over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    colors = {"panda": "tab:blue", "tansu": "tab:orange"}
    written = []
    for w in doc["workloads"]:
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
        _plot_curves(left, w, colors)
        _plot_timeline(right, w, [r for r in results if r["workload"] == w["name"]], colors)
        fig.suptitle(f"{w['name']}: {w['title']}")
        fig.tight_layout()
        path = out_dir / f"kafka-{w['name']}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def _plot_curves(ax: Any, w: dict[str, Any], colors: dict[str, str]) -> None:
    import math

    for broker, curves in w["curves"].items():
        for kind, style in (("publish", "-"), ("e2e", "--")):
            points = [(p, ms) for p, ms in curves[kind] if p < 100.0 and ms > 0]
            if points:
                xs = [-math.log10(1 - p / 100.0) for p, _ in points]
                ax.plot(xs, [ms for _, ms in points], style, color=colors.get(broker),
                        label=f"{broker} {kind}")
    ticks = [0, 0.301, 1, 2, 3, 4, 5]
    ax.set_xticks(ticks, ["0", "50", "90", "99", "99.9", "99.99", "99.999"])
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, merged over runs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def _plot_timeline(ax: Any, w: dict[str, Any], runs: list[dict[str, Any]],
                   colors: dict[str, str]) -> None:
    for r in runs:
        timeline = r["timeline"]
        xs = [i * timeline["bin_s"] for i in range(len(timeline["acked_per_s"]))]
        label = f"{r['broker']} run {r['run'] + 1}"
        ax.plot(xs, timeline["acked_per_s"], color=colors.get(r["broker"]),
                alpha=0.4 + 0.6 / (1 + r["run"]), label=label)
    if runs:
        ax.axvline(runs[0]["warmup_s"], color="grey", linestyle=":", label="end of warm-up")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("acknowledged msgs/s")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
