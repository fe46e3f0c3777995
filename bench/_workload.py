"""Benchmark workloads of bench/kafka.py: small YAML files in bench/workloads/, one per workload.

A workload names its topics, partitions, message size, producers and their total rate (a
number of msgs/s, or `max`), acks, linger and batch size, consumers, measured duration and
warm-up, our node's shard count, and whether the peer runs it (`peer: "reason"` skips it).
`max_queued_messages` bounds each producer's librdkafka queue: at max rate, publish latency is
mostly the time spent in that queue, so it is part of the workload.
Unknown keys and bad values fail with the file and key named.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

WORKLOAD_DIR = Path(__file__).parent / "workloads"
PARTITIONS_MAX = 1024
PRODUCERS_MAX = 16
CONSUMERS_MAX = 16
MESSAGE_BYTES_MAX = 1 << 20
DURATION_S_MAX = 3600.0


class WorkloadError(ValueError):
    """A workload file is malformed; the message names the file and the key."""


@dataclass
class Workload:
    name: str
    title: str = ""
    topics: int = 1
    partitions: int = 1
    message_bytes: int = 1024
    producers: int = 1
    producer_rate_msgs_per_s: int = 0  # 0 = max rate
    acks: str = "all"
    linger_ms: float = 0.0
    batch_bytes: int = 1_000_000
    max_queued_messages: int = 20_000
    consumers: int = 1
    duration_s: float = 8.0
    warmup_s: float = 2.0
    smp: int = 2
    peer: bool | str = True  # True, or the reason the peer does not run it
    compare_with: str = ""  # another workload whose panda figures this one is read against
    panda_env: dict[str, str] = field(default_factory=dict)  # PANDA_* settings for our node
    suite: bool = True  # part of the default suite
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_rate(self) -> bool:
        return not self.producer_rate_msgs_per_s

    def rate_label(self) -> str:
        return "max" if self.max_rate else f"{self.producer_rate_msgs_per_s:,} msg/s"


def _check(path: Path, key: str, ok: bool, why: str) -> None:
    if not ok:
        raise WorkloadError(f"{why} - at {path.name}: $.{key}")


def load(path: Path) -> Workload:
    data = yaml.safe_load(path.read_text()) or {}
    _check(path, "", isinstance(data, dict), "a workload is a mapping")
    known = {f.name for f in fields(Workload)} - {"name", "extra"}
    for key in data:
        _check(path, key, key in known, f"unknown key (known: {', '.join(sorted(known))})")
    rate = data.get("producer_rate_msgs_per_s", "max")
    data["producer_rate_msgs_per_s"] = 0 if rate == "max" else rate
    data["acks"] = str(data.get("acks", "all"))
    workload = Workload(name=path.stem, **data)
    _validate(path, workload)
    return workload


def _validate(path: Path, w: Workload) -> None:
    def positive_int(key: str, top: int) -> None:
        value = getattr(w, key)
        _check(path, key, isinstance(value, int) and 1 <= value <= top,
               f"must be an integer in 1..{top}, got {value!r}")

    positive_int("topics", 64)
    positive_int("partitions", PARTITIONS_MAX)
    positive_int("producers", PRODUCERS_MAX)
    _check(path, "consumers", isinstance(w.consumers, int) and 0 <= w.consumers <= CONSUMERS_MAX,
           f"must be an integer in 0..{CONSUMERS_MAX} (0: produce only)")
    positive_int("smp", 64)
    _check(path, "message_bytes", isinstance(w.message_bytes, int)
           and 8 <= w.message_bytes <= MESSAGE_BYTES_MAX, "must be 8..1 MiB bytes")
    _check(path, "producer_rate_msgs_per_s", isinstance(w.producer_rate_msgs_per_s, int)
           and 0 <= w.producer_rate_msgs_per_s <= 10_000_000, "must be `max` or 1..10M msgs/s")
    _check(path, "acks", w.acks in ("all", "1", "0", "-1"), "must be all, 1 or 0")
    for key in ("duration_s", "warmup_s"):
        value = getattr(w, key)
        _check(path, key, isinstance(value, (int, float)) and 0 <= value <= DURATION_S_MAX,
               f"must be 0..{DURATION_S_MAX:.0f} seconds")
    _check(path, "duration_s", w.duration_s > 0, "must be positive")
    _check(path, "peer", isinstance(w.peer, (bool, str)), "must be true or a reason (string)")
    _check(path, "panda_env", isinstance(w.panda_env, dict) and all(
        isinstance(k, str) and k.startswith("PANDA_") and isinstance(v, (str, int))
        for k, v in w.panda_env.items()), "must map PANDA_* names to values")
    w.panda_env = {k: str(v) for k, v in w.panda_env.items()}


def find(names: list[str] | None) -> list[Workload]:
    """The named workloads (file stems, unique prefixes or paths), or the default suite."""
    available = sorted(WORKLOAD_DIR.glob("*.yaml"))
    if not names:
        return [w for w in map(load, available) if w.suite]
    chosen = []
    for name in names:
        path = Path(name)
        if not path.is_file():
            matches = [p for p in available if p.stem == name] or \
                      [p for p in available if p.stem.startswith(name)]
            if len(matches) != 1:
                raise WorkloadError(f"no single workload named {name!r} in {WORKLOAD_DIR} "
                                    f"(have: {', '.join(p.stem for p in available)})")
            path = matches[0]
        chosen.append(load(path))
    return chosen
