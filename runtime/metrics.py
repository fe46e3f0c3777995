"""Per-shard metrics: counters, gauges and log2-bucket histograms, cheap on the hot path.

Each shard keeps its own registry; `snapshot()` turns it into plain msgspec data that crosses
shards, and `render_prometheus()` merges every shard's snapshot (adding the `shard` label)
into Prometheus text through prometheus-client's exposition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric

LOG2_BUCKETS = 40          # covers 1 .. 2^39 of the unit (µs: up to ~6 days)
QUANTILES = (0.5, 0.99, 0.999)


class Sample(msgspec.Struct, array_like=True):
    suffix: str
    labels: dict[str, str]
    value: float


class Family(msgspec.Struct, array_like=True):
    name: str
    kind: str            # counter | gauge | histogram | summary
    help: str
    samples: list[Sample]


class Log2Histogram:
    """Fixed power-of-two buckets of an integer unit (µs by default): one add per observation.

    Bucket i counts values of bit length i, [2**(i-1), 2**i); bucket 0 counts values < 1; the
    last bucket also takes everything larger. The one histogram of the tree: the runtime
    exports it (`samples`, in seconds through `unit_seconds`), storage's probe reads
    `statistics()` too. `total` stays an int while the observations are ints.
    """

    __slots__ = ("count", "counts", "total", "unit_seconds")

    def __init__(self, unit_seconds: float = 1e-6):
        self.counts = [0] * LOG2_BUCKETS
        self.total: float = 0
        self.count = 0
        self.unit_seconds = unit_seconds

    def observe(self, value: float) -> None:
        index = int(value).bit_length()
        self.counts[index if index < LOG2_BUCKETS else LOG2_BUCKETS - 1] += 1
        self.total += value
        self.count += 1

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile q, in the unit (0 when empty)."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank and n:
                return float(1 << index) if index else 1.0
        return float(1 << (LOG2_BUCKETS - 1))

    def statistics(self) -> dict[str, float]:
        """count, sum and the p50/p99/p99.9 bucket upper bounds, in the unit."""
        return {
            "count": self.count,
            "sum": self.total,
            "p50": int(self.quantile(0.5)),
            "p99": int(self.quantile(0.99)),
            "p999": int(self.quantile(0.999)),
        }

    def samples(self, labels: dict[str, str]) -> list[Sample]:
        out = []
        cumulative = 0
        for index, n in enumerate(self.counts):
            cumulative += n
            if n or index == LOG2_BUCKETS - 1:
                le = (1 << index) * self.unit_seconds
                out.append(Sample("_bucket", {**labels, "le": repr(le)}, cumulative))
        out.append(Sample("_bucket", {**labels, "le": "+Inf"}, self.count))
        out.append(Sample("_sum", labels, self.total * self.unit_seconds))
        out.append(Sample("_count", labels, self.count))
        return out


class _HistogramView(Log2Histogram):
    """Exports another layer's log2 histogram (same bucket layout) without copying it."""

    __slots__ = ("_source",)

    def __init__(self, source, unit_seconds: float):
        self._source = source
        self.unit_seconds = unit_seconds

    counts = property(lambda self: self._source.counts)  # type: ignore[assignment]
    count = property(lambda self: self._source.count)  # type: ignore[assignment]
    total = property(lambda self: self._source.total)  # type: ignore[assignment]


class _Dynamic:
    __slots__ = ("read",)

    def __init__(self, read):
        self.read = read


class _Metric:
    __slots__ = ("help", "kind", "name", "series")

    def __init__(self, name: str, kind: str, help_text: str):
        self.name = name
        self.kind = kind
        self.help = help_text
        self.series: list[tuple[dict[str, str], object]] = []


class MetricsRegistry:
    """One shard's metrics. Values are read at scrape time, never pushed."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def _add(self, name: str, kind: str, help_text: str, labels, source) -> None:
        metric = self._metrics.get(name)
        if metric is None:
            metric = self._metrics[name] = _Metric(name, kind, help_text)
        assert metric.kind == kind, f"metric {name} registered as {metric.kind} and {kind}"
        metric.series.append((dict(labels or {}), source))

    def counter(self, name: str, help_text: str, read: Callable[[], float], labels=None) -> None:
        """A monotonically increasing value read through `read()` at scrape time."""
        self._add(name, "counter", help_text, labels, read)

    def gauge(self, name: str, help_text: str, read: Callable[[], float], labels=None) -> None:
        self._add(name, "gauge", help_text, labels, read)

    def histogram(self, name: str, help_text: str, labels=None,
                  unit_seconds: float = 1e-6) -> Log2Histogram:
        """A log2 histogram; exported in seconds with p50/p99/p99.9 beside it."""
        histogram = Log2Histogram(unit_seconds)
        self._add(name, "histogram", help_text, labels, histogram)
        return histogram

    def histogram_of(self, name: str, help_text: str, source, unit_seconds: float = 1e-6,
                     labels=None) -> None:
        """Export an existing log2 histogram (any object with counts/count/total in the
        same power-of-two buckets), e.g. a storage probe's."""
        self._add(name, "histogram", help_text, labels, _HistogramView(source, unit_seconds))

    def dynamic(self, name: str, kind: str, help_text: str,
                read: Callable[[], Iterable[tuple[dict[str, str], float]]]) -> None:
        """A family whose series come and go (per topic, per partition): read() returns
        (labels, value) pairs at scrape time."""
        assert kind in ("counter", "gauge"), kind
        self._add(name, kind, help_text, None, _Dynamic(read))

    def remove(self, name: str) -> None:
        self._metrics.pop(name, None)

    def snapshot(self, shard: int) -> list[Family]:
        families = []
        for metric in self._metrics.values():
            samples: list[Sample] = []
            quantiles: list[Sample] = []
            for labels, source in metric.series:
                labels = {**labels, "shard": str(shard)}
                if isinstance(source, _Dynamic):
                    samples.extend(Sample("", {**labels, **extra, "shard": str(shard)}, float(v))
                                   for extra, v in source.read())
                elif isinstance(source, Log2Histogram):
                    samples.extend(source.samples(labels))
                    quantiles.extend(
                        Sample("", {**labels, "quantile": str(q)},
                               source.quantile(q) * source.unit_seconds) for q in QUANTILES)
                else:
                    samples.append(Sample("", labels, float(source())))  # type: ignore[operator]
            families.append(Family(metric.name, metric.kind, metric.help, samples))
            if quantiles:
                families.append(Family(metric.name + "_quantiles", "gauge",
                                       metric.help + " (bucket upper bound at quantile)",
                                       quantiles))
        return families


class _MergedCollector:
    def __init__(self, families: Iterable[Family]):
        self._families = families

    def collect(self):
        merged: dict[str, Metric] = {}
        for family in self._families:
            metric = merged.get(family.name)
            if metric is None:
                base = family.name
                if family.kind == "counter" and base.endswith("_total"):
                    base = base[: -len("_total")]
                metric = merged[family.name] = Metric(base, family.help, family.kind)
            for sample in family.samples:
                metric.add_sample(family.name + sample.suffix, sample.labels, sample.value)
        return list(merged.values())


def render_prometheus(families: Iterable[Family]) -> bytes:
    """Prometheus text exposition of every shard's families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_MergedCollector(families))  # type: ignore[arg-type]
    return generate_latest(registry)
