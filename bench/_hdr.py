"""Latency histograms for the benchmarks: values in microseconds, percentiles in milliseconds.

Backed by the `hdrhistogram` package (3 significant digits) when it is installed, else by a
log-bucketed histogram of our own (8-bit mantissa buckets, relative error below 0.4%).
Recording never allocates past the bucket table and never raises: values are clamped to
[1 µs, VALUE_US_MAX]. Both kinds serialise to bytes, so worker processes can ship them.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

try:  # optional: `pip install hdrhistogram`
    from hdrh.histogram import HdrHistogram
except ImportError:  # pragma: no cover - depends on the environment
    HdrHistogram = None

VALUE_US_MAX = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3
MANTISSA_BITS = 8  # fallback buckets: 2**-(MANTISSA_BITS-1) wide, relative to their value
SUMMARY_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9, "p9999": 99.99}


def backend() -> str:
    """Which implementation records: 'hdrhistogram' or 'log-buckets'."""
    return "hdrhistogram" if HdrHistogram is not None else "log-buckets"


class _LogBuckets:
    """Sparse log-bucketed counts: below 2**MANTISSA_BITS exact, above 8-bit mantissa."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0
        self.max = 0

    @staticmethod
    def _index(value: int) -> int:
        shift = max(0, value.bit_length() - MANTISSA_BITS)
        return (shift << MANTISSA_BITS) | (value >> shift)

    @staticmethod
    def _value(index: int) -> int:
        shift, mantissa = index >> MANTISSA_BITS, index & ((1 << MANTISSA_BITS) - 1)
        return (mantissa << shift) + ((1 << shift) >> 1)  # bucket midpoint

    def record(self, value: int) -> None:
        index = self._index(value)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.total += 1
        self.max = max(self.max, value)

    def percentile(self, pct: float) -> int:
        if not self.total:
            return 0
        rank = max(1, round(pct / 100.0 * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(self._value(index), self.max)
        return self.max

    def merge(self, other: _LogBuckets) -> None:
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count
        self.total += other.total
        self.max = max(self.max, other.max)

    def dumps(self) -> bytes:
        return zlib.compress(json.dumps([self.total, self.max, list(self.counts.items())]).encode())

    @classmethod
    def loads(cls, data: bytes) -> _LogBuckets:
        total, top, items = json.loads(zlib.decompress(data))
        hist = cls()
        hist.total, hist.max, hist.counts = total, top, {int(i): int(c) for i, c in items}
        return hist


class Histogram:
    """Latency histogram in microseconds; `summary()` reports milliseconds."""

    def __init__(self, impl: Any = None):
        if impl is None:
            impl = (HdrHistogram(1, VALUE_US_MAX, SIGNIFICANT_DIGITS) if HdrHistogram is not None
                    else _LogBuckets())
        self._impl = impl
        self._hdr = HdrHistogram is not None and not isinstance(impl, _LogBuckets)

    def record_us(self, value_us: float) -> None:
        value = min(VALUE_US_MAX, max(1, int(value_us)))
        if self._hdr:
            self._impl.record_value(value)
        else:
            self._impl.record(value)

    @property
    def count(self) -> int:
        return self._impl.get_total_count() if self._hdr else self._impl.total

    @property
    def max_us(self) -> int:
        if not self.count:
            return 0
        return self._impl.get_max_value() if self._hdr else self._impl.max

    def percentile_us(self, pct: float) -> int:
        if not self.count:
            return 0
        if self._hdr:
            return int(self._impl.get_value_at_percentile(pct))
        return self._impl.percentile(pct)

    def merge(self, other: Histogram) -> None:
        assert self._hdr == other._hdr, "cannot merge histograms of two backends"
        if self._hdr:
            self._impl.add(other._impl)
        else:
            self._impl.merge(other._impl)

    def summary(self) -> dict[str, float]:
        """p50/p90/p99/p99.9/p99.99/max in ms, and the sample count."""
        out = {name: self.percentile_us(pct) / 1000.0 for name, pct in SUMMARY_PERCENTILES.items()}
        out["max"] = self.max_us / 1000.0
        out["count"] = float(self.count)
        return out

    def curve(self, nines_max: int = 5) -> list[tuple[float, float]]:
        """(percentile, ms) points spaced evenly in 'nines', for percentile plots."""
        points = []
        steps_per_nine = 8
        for step in range(nines_max * steps_per_nine + 1):
            pct = 100.0 * (1.0 - 10.0 ** (-step / steps_per_nine))
            points.append((pct, self.percentile_us(pct) / 1000.0))
        points.append((100.0, self.max_us / 1000.0))
        return points

    def dumps(self) -> bytes:
        return (b"H" + self._impl.encode()) if self._hdr else (b"L" + self._impl.dumps())

    @classmethod
    def loads(cls, data: bytes) -> Histogram:
        kind, body = data[:1], data[1:]
        if kind == b"H":
            assert HdrHistogram is not None, "hdrhistogram is needed to read this histogram"
            return cls(HdrHistogram.decode(body))
        return cls(_LogBuckets.loads(body))
