"""Record batch benchmark: header read + CRC32C validate, build and parse of 100-record
batches per codec, against kafka-python's DefaultRecordBatchBuilder / DefaultRecordBatch (the
baseline of "x base") and aiokafka's Cython batch code, measured in the same run; plus the two
CRC32C libraries side by side.

    python -m panda.bench.record_batch [--runs 7] [--json] [--quick]

Every figure is the median of --runs repeated runs (each run times enough calls to last
~--run-ms), with min and max beside it, in microseconds per call.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import crc32c
import google_crc32c

from panda.storage import record_batch as rb
from panda.storage.compression import Compression

with warnings.catch_warnings():  # kafka-python imports use importlib.resources.read_text
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import codec as kafka_codec
    from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from aiokafka.record import default_records as aio

RECORDS_PER_BATCH = 100
VALUE_BYTES = 200
CRC_BATCH_BYTES = (16 * 1024, 1024 * 1024)
CRC_RAW_BYTES = (1024, 16 * 1024, 1024 * 1024)
KAFKA_PYTHON_HAS = {
    Compression.NONE: lambda: True,
    Compression.GZIP: kafka_codec.has_gzip,
    Compression.SNAPPY: kafka_codec.has_snappy,
    Compression.LZ4: kafka_codec.has_lz4,
    Compression.ZSTD: kafka_codec.has_zstd,
}


def measure(fn: Callable[[], object], runs: int, run_s: float) -> dict[str, float]:
    """Median/min/max microseconds per call over `runs` runs of ~run_s seconds each."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(run_s / once))
    per_call = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        per_call.append((time.perf_counter() - start) / calls * 1e6)
    return {
        "median_us": statistics.median(per_call),
        "min_us": min(per_call),
        "max_us": max(per_call),
        "calls_per_run": calls,
    }


def sample_values() -> list[tuple[bytes, bytes, int, list[tuple[str, bytes]]]]:
    """100 records: 9-byte keys, 200-byte JSON-ish values (compressible), one header each."""
    values = []
    for i in range(RECORDS_PER_BATCH):
        text = b'{"user":%d,"event":"page_view","path":"/items/%d","agent":"bench"}' % (i, i * 7)
        value = (text * (VALUE_BYTES // len(text) + 1))[:VALUE_BYTES]
        values.append((b"key-%05d" % i, value, 1_700_000_000_000 + i, [("trace", b"%08x" % i)]))
    return values


def ours_build(codec: Compression, values: list[Any]) -> Callable[[], bytes]:
    records = [rb.Record(i, ts, k, v, h) for i, (k, v, ts, h) in enumerate(values)]
    return lambda: rb.build_batch(records, compression=codec)


def kafka_python_build(codec: Compression, values: list[Any]) -> Callable[[], bytes]:
    def build() -> bytes:
        builder = DefaultRecordBatchBuilder(2, int(codec), 0, -1, -1, -1, 1 << 24)
        for i, (key, value, timestamp, headers) in enumerate(values):
            builder.append(i, timestamp, key, value, headers)
        return bytes(builder.build())

    return build


def ours_parse(buf: bytes) -> Callable[[], object]:
    return lambda: rb.decode_records(buf)


def kafka_python_parse(buf: bytes) -> Callable[[], object]:
    def parse() -> object:
        batch = DefaultRecordBatch(bytearray(buf))
        assert batch.validate_crc()
        return [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch]

    return parse


def size_label(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


def big_batch(size_bytes: int) -> bytes:
    """An uncompressed batch of about size_bytes (1 KiB values)."""
    count = max(1, -(-size_bytes // 1036))
    records = [rb.Record(i, i, None, os.urandom(1024), []) for i in range(count)]
    return rb.build_batch(records)


def kafka_python_validate(buf: bytes) -> None:
    assert DefaultRecordBatch(bytearray(buf)).validate_crc()


def aiokafka_validate(buf: bytes) -> None:
    assert aio.DefaultRecordBatch(bytearray(buf)).validate_crc()


def header_crc_cases(runs: int, run_s: float) -> list[dict[str, Any]]:
    rows = []
    for size in CRC_BATCH_BYTES:
        buf = big_batch(size)
        ours = measure(functools.partial(rb.validate_crc, buf), runs, run_s)
        theirs = measure(functools.partial(kafka_python_validate, buf), runs, run_s)
        aiokafka = measure(functools.partial(aiokafka_validate, buf), runs, run_s)
        label = f"header+crc {size_label(size)}"
        rows.append(row(label, "panda", ours, theirs, len(buf)))
        rows.append(row(label, "aiokafka", aiokafka, theirs, len(buf)))
        rows.append(row(label, "kafka-python", theirs, theirs, len(buf)))
    return rows


def crc_copying_span(crc: Callable[[bytes], int], view: memoryview) -> int:
    return crc(bytes(view[rb.CRC_START :]))  # google-crc32c takes read-only bytes only


def crc_of_span(crc: Callable[[memoryview], int], view: memoryview) -> int:
    return crc(view[rb.CRC_START :])


def crc_library_cases(runs: int, run_s: float) -> list[dict[str, Any]]:
    """Both libraries on the span a batch CRC covers (bytes 21..end of a buffer slice)."""
    rows = []
    for size in CRC_RAW_BYTES:
        view = memoryview(bytearray(os.urandom(size + rb.CRC_START)))
        google_crc = functools.partial(crc_copying_span, google_crc32c.value, view)
        google = measure(google_crc, runs, run_s)
        rows.append(row(f"crc32c {size_label(size)}", "google-crc32c", google, google, size))
        other = measure(functools.partial(crc_of_span, crc32c.crc32c, view), runs, run_s)
        rows.append(row(f"crc32c {size_label(size)}", "crc32c", other, google, size))
    return rows


def aiokafka_build(codec: Compression, values: list[Any]) -> Callable[[], bytes]:
    def build() -> bytes:
        builder = aio.DefaultRecordBatchBuilder(2, int(codec), 0, -1, -1, -1, 1 << 24)
        for i, (key, value, timestamp, headers) in enumerate(values):
            builder.append(i, timestamp, key, value, headers)
        return bytes(builder.build())

    return build


def aiokafka_parse(buf: bytes) -> Callable[[], object]:
    def parse() -> object:
        batch = aio.DefaultRecordBatch(bytearray(buf))
        assert batch.validate_crc()
        return [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch]

    return parse


def codec_impls(codec: Compression) -> dict[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    """Build and parse factories per implementation; kafka-python only with its codec."""
    impls = {"panda": (ours_build, ours_parse), "aiokafka": (aiokafka_build, aiokafka_parse)}
    if KAFKA_PYTHON_HAS[codec]():
        impls["kafka-python"] = (kafka_python_build, kafka_python_parse)
    return impls


def codec_cases(runs: int, run_s: float) -> list[dict[str, Any]]:
    values = sample_values()
    rows: list[dict[str, Any]] = []
    for codec in Compression:
        buf = ours_build(codec, values)()
        calls = {
            impl: {"build": build(codec, values), "parse": parse(buf)}
            for impl, (build, parse) in codec_impls(codec).items()
        }
        for verb in ("build", "parse"):
            stats = {impl: measure(verbs[verb], runs, run_s) for impl, verbs in calls.items()}
            case = f"{verb} 100 rec {codec.name.lower()}"
            base = stats.get("kafka-python")
            rows.extend(row(case, impl, st, base, len(buf)) for impl, st in stats.items())
    return rows


def row(
    case: str, impl: str, stats: dict[str, float], baseline: dict[str, float] | None, size: int
) -> dict[str, Any]:
    """One table line; speedup = baseline median / this median (baseline: kafka-python)."""
    speedup = baseline["median_us"] / stats["median_us"] if baseline else None
    return {"case": case, "impl": impl, "bytes": size, **stats, "speedup_vs_baseline": speedup}


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'case':<24} {'impl':<14} {'median us':>11} {'min':>10} {'max':>10} {'x base':>7}")
    first_seen = {r["case"]: i for i, r in reversed(list(enumerate(rows)))}
    for r in sorted(rows, key=lambda r: (first_seen[r["case"]], r["impl"] != "panda")):
        ratio = "" if r["speedup_vs_baseline"] is None else f"{r['speedup_vs_baseline']:.2f}"
        print(
            f"{r['case']:<24} {r['impl']:<14} {r['median_us']:>11.2f} {r['min_us']:>10.2f} "
            f"{r['max_us']:>10.2f} {ratio:>7}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="repeated runs per case")
    parser.add_argument("--run-ms", type=float, default=60.0, help="target length of one run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="3 runs of ~10 ms (smoke test)")
    args = parser.parse_args(argv)
    runs, run_s = (3, 0.01) if args.quick else (args.runs, args.run_ms / 1000)
    rows = header_crc_cases(runs, run_s) + crc_library_cases(runs, run_s) + codec_cases(runs, run_s)
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "record_batch",
                    "runs": runs,
                    "crc32c_backend": rb.CRC32C_BACKEND,
                    "cases": rows,
                }
            )
        )
    else:
        print(f"CRC32C backend in use: {rb.CRC32C_BACKEND}; python {sys.version.split()[0]}")
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
