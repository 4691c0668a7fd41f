"""Benchmark: ETL throughput (rows/s) on Spark local[2] at 1M and 10M transactions.

For each size the raw input is generated once with fraud_app.data.generator in the
generator's user-like layout (string timestamps, non-canonical names) and kept under
`--workdir` for later runs (NOT timed). Then each step in STEPS is timed on it; for
now the only step is `etl` (fraud_app.etl.run_etl: read, map + parse, quarantine,
dedup, date-partitioned Parquet, counts). A later step (features) is one more
function `step(spark, config, size_label) -> dict` appended to STEPS.

A small warm-up ETL runs first so JVM start-up/JIT is not charged to the 1M size.
The last line printed is one JSON object: etl_rows_per_s_1m, etl_rows_per_s_10m
(when run), plus seconds, row counts and the machine's load average (the machine is
shared: compare ratios, not absolute figures).

    .venv/bin/python bench/etl_features.py --sizes 1m       # quick check
    .venv/bin/python bench/etl_features.py                  # 1m and 10m
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fraud_app.config import AppConfig, load_config
from fraud_app.data.generator import RAW_COLUMN_NAMES, RAW_TIMESTAMP_FORMAT, generate_raw, write_raw
from fraud_app.etl.pipeline import run_etl
from fraud_app.spark.session import get_spark

SIZES = {"20k": 20_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
BENCH_CONF = {"spark.sql.shuffle.partitions": "8", "spark.driver.memory": "4g"}


def config_for(workdir: Path, size_label: str, fmt: str) -> AppConfig:
    """One config per size: its own raw input and outputs under `workdir`."""
    n = SIZES[size_label]
    return load_config(
        None,
        {
            "paths.root": str(workdir / size_label),
            "generate": {
                "n_transactions": n,
                "n_cards": max(1_000, n // 10),
                "n_merchants": max(600, n // 40),
                "days": 30,
                "format": fmt,
                "partitions": max(2, n // 500_000),
                "dirty_fraction": 0.001,
            },
            "etl": {"columns": RAW_COLUMN_NAMES, "timestamp_format": RAW_TIMESTAMP_FORMAT},
        },
    )


def ensure_raw(spark, config: AppConfig) -> float:
    """Generate the raw input once (marker file = complete); seconds spent, 0 if cached."""
    raw = config.paths.resolve("raw")
    marker = raw.parent / f".raw-complete-{config.generate.n_transactions}-{config.generate.format}"
    if marker.exists():
        return 0.0
    started = time.monotonic()
    write_raw(generate_raw(spark, config.generate), raw, config.generate.format)
    marker.write_text("ok\n")
    return time.monotonic() - started


def step_etl(spark, config: AppConfig, size_label: str) -> dict[str, Any]:
    started = time.monotonic()
    result = run_etl(spark, config)
    seconds = time.monotonic() - started
    return {
        f"etl_rows_per_s_{size_label}": round(result.input_rows / seconds),
        f"etl_seconds_{size_label}": round(seconds, 2),
        f"etl_input_rows_{size_label}": result.input_rows,
        f"etl_output_rows_{size_label}": result.output_rows,
        f"etl_quarantine_rows_{size_label}": result.quarantine_rows,
    }


def step_features(spark, config: AppConfig, size_label: str) -> dict[str, Any]:
    """The canonical table ETL wrote -> feature table (feature_specs/, written + counted).

    End to end through the app's pipeline; bench/features.py measures the computation
    alone (noop sink) and against the pandas peer.
    """
    from fraud_app.features.pipeline import build_feature_table

    started = time.monotonic()
    summary = build_feature_table(spark, config)
    seconds = time.monotonic() - started
    return {
        f"features_table_rows_per_s_{size_label}": round(summary.rows / seconds),
        f"features_table_seconds_{size_label}": round(seconds, 2),
        f"features_table_features_{size_label}": len(summary.feature_names),
    }


# (name, step): each step reads what earlier steps wrote for the same size
STEPS: list[tuple[str, Callable[[Any, AppConfig, str], dict[str, Any]]]] = [
    ("etl", step_etl),
    ("features", step_features),
]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1m,10m", help=f"comma-separated, from {sorted(SIZES)}")
    ap.add_argument("--workdir", default="work/bench_etl", help="raw inputs are cached here")
    ap.add_argument("--format", default="parquet", choices=("parquet", "csv"), help="raw format")
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args(argv)
    labels = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in labels if s not in SIZES]
    if unknown:
        ap.error(f"unknown size(s) {unknown}; choose from {sorted(SIZES)}")
    workdir = Path(args.workdir)
    spark = get_spark(args.master, "bench-etl-features", BENCH_CONF)
    out: dict[str, Any] = {
        "master": args.master,
        "raw_format": args.format,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
    }
    warm = config_for(workdir, "20k", args.format)
    ensure_raw(spark, warm)
    run_etl(spark, warm)  # JVM warm-up, not reported
    for label in labels:
        config = config_for(workdir, label, args.format)
        gen_s = ensure_raw(spark, config)
        print(
            f"{label}: raw input ready ({'cached' if gen_s == 0 else f'generated in {gen_s:.0f} s'})",
            flush=True,
        )
        for name, step in STEPS:
            metrics = step(spark, config, label)
            out.update(metrics)
            print(f"{label}: {name} {json.dumps(metrics)}", flush=True)
    out["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
