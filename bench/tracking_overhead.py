"""Tracking cost: `run_training` wall time with MLflow tracking on vs off, in the same run.

Peer: the same training with `tracking.enabled: false` (same process, same Spark session,
same data, same seeds), alternated on/off `--repeats` times (off-on, on-off, ...). "On"
pays everything tracking adds: table digests, config/lineage params, per-member and
per-baseline nested runs, metric histories, artifacts, logging + registering the pyfunc
model and the promotion gate (which scores the champion on the validation window).
The store is sqlite in a temporary directory.

Two sizes:
  (default) synthetic 30-feature tables (`--rows`), a small MLP, baselines off: the
  difference is tracking alone, on a short training.
  `--config configs/demo.yaml`: the demo configuration as `fraud-app train` runs it
  (baselines included), on the feature table the demo workflow builds from its
  generated transactions (`--transactions`, default the config's 200,000): generate,
  etl, validate and features run once, untimed, before the measured runs.

Before the measured runs, one tracked warm-up run (a short training) creates the store,
imports MLflow and registers a first version, so every measured tracked run meets a
champion; the one-time costs (`import mlflow`, creating the store) are timed apart and
reported as `first_use_seconds` (a `fraud-app train` process pays the import once, the
store creation once per store).

  PYTHONPATH=. python bench/tracking_overhead.py --rows 40000 --iterations 3000 --repeats 2
  PYTHONPATH=. python bench/tracking_overhead.py --config configs/demo.yaml --repeats 2

Prints one JSON line: tracking_overhead_share = (median on - median off) / median off,
every run's seconds, the paired differences (on - off within each repeat) and, per
tracked run, the tracking thread's busy seconds per item (wall, and its own CPU), its
nice value and how long training waited. A second, load-robust figure: the CPU seconds
(user + system) the whole application used per run (this process and every process
under it: Spark's JVM, its Python workers, reaped ones included; Linux /proc), on vs off:
tracking_cpu_share. On 2 cores that training keeps busy, tracking's extra CPU is what it
can take from training; the wall-time share is the issue's figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from _spark_common import fraud_like, machine, spark_session
from pyspark.sql import functions as F

from fraud_app.config import load_config
from pipelines.training.pipeline import run_training

D = 30


def write_tables(spark, root: Path, rows: int) -> None:
    X, y = fraud_like(rows, D, fraud_rate=0.02, seed=0)
    rng = np.random.default_rng(1)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    secs = np.sort(rng.integers(0, 40 * 86400, rows))
    data = [(f"t{i}", start + dt.timedelta(seconds=int(secs[i])), float(y[i]), X[i].tolist())
            for i in range(rows)]  # fmt: skip
    schema = "transaction_id string, timestamp timestamp, label double, features array<float>"
    df = spark.createDataFrame(data, schema).repartition(4)
    df = df.withColumn("event_date", F.to_date("timestamp"))  # the tables' date partition
    df.drop("features").write.parquet(str(root / "canonical"))
    names = [f"f{i:02d}" for i in range(D)]
    # the feature table's layout: one column per feature and the vector of them
    per_feature = [F.col("features")[i].alias(n) for i, n in enumerate(names)]
    df.select("*", *per_feature).write.parquet(str(root / "features"))
    (root / "features" / "_features.json").write_text(json.dumps({"feature_names": names}))


EXTRA: dict = {}  # --set KEY=VALUE overrides, applied to every run (on and off)


def config(root: Path, iterations: int, tracking: bool):
    return load_config(None, {**EXTRA,
        "paths.root": str(root),
        "features.label_delay_days": 2,
        "features.spec_dir": str(Path(__file__).resolve().parents[1] / "feature_specs"),
        "splits.test_days": 5, "splits.validation_days": 5,
        "balancing.unionpay_subsets.n_subsets": 2,
        "balancing.unionpay_subsets.normal_ratio": 20,
        "training.checkpoint": False,
        "training.model.hidden": [64, 32],
        "training.distributed.iterations": iterations,
        "training.distributed.global_batch_size": 256,
        "baselines.enabled": False,
        "tracking.enabled": tracking,
    })  # fmt: skip


def demo_config(path: str, root: Path, tracking: bool, transactions: int | None, **extra):
    over = {**EXTRA, "paths.root": str(root), "tracking.enabled": tracking, **extra}
    if transactions:
        over["generate.n_transactions"] = transactions
    return load_config(path, over)


def build_demo_tables(spark, cfg) -> None:
    """generate -> etl -> validate -> features, as `fraud-app run --generate` does (untimed)."""
    from fraud_app.data.generator import generate_raw, write_raw
    from fraud_app.etl.pipeline import run_etl
    from fraud_app.features.pipeline import build_feature_table
    from fraud_app.validation.validate import validate_canonical, validate_features

    paths = cfg.paths
    write_raw(generate_raw(spark, cfg.generate), str(paths.resolve("raw")), cfg.generate.format)
    run_etl(spark, cfg)
    canonical = str(paths.resolve("canonical"))
    validate_canonical(spark, spark.read.parquet(canonical), cfg, table=canonical)
    build_feature_table(spark, cfg)
    features = str(paths.resolve("features"))
    validate_features(spark, spark.read.parquet(features), cfg, table=features)


def tree_cpu_seconds() -> float | None:
    """User + system CPU seconds of this process and all its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])  # field 4: ppid; 14-17: utime stime cutime cstime
        ticks[pid] = sum(int(x) for x in fields[11:15])
    if not ticks:
        return None
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo += children.get(pid, [])
    return total / tick


class TrackingLog(logging.Handler):
    """Keeps the tracker's end-of-run summary (busy seconds per item, training's wait)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.last: dict | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "tracking_seconds"):
            cpu = getattr(record, "tracking_cpu_seconds", {})
            self.last = {"busy": {k: round(v, 2) for k, v in record.tracking_seconds.items()},
                         "cpu": {k: round(v, 2) for k, v in cpu.items()},
                         "cpu_total": round(sum(cpu.values()), 2),
                         "nice": getattr(record, "tracking_nice", None),
                         "waited_s": round(record.tracking_waited_s, 2)}  # fmt: skip


def first_use(cfg) -> dict[str, float]:
    """The one-time costs: importing MLflow and creating the (empty) sqlite store."""
    t0 = time.perf_counter()
    import mlflow  # noqa: F401

    t1 = time.perf_counter()
    from fraud_app.tracking.client import connect

    connect(cfg)
    return {"import_mlflow": round(t1 - t0, 2), "create_store": round(time.perf_counter() - t1, 2)}


def setup(args, spark, root: Path):
    """(config factory, first-use seconds, feature rows): tables written, warm-up done."""
    if args.config:
        make = lambda on: demo_config(args.config, root, on, args.transactions)  # noqa: E731
        build_demo_tables(spark, make(False))
        warm = demo_config(args.config, root, True, args.transactions, **{
            "training.distributed.epochs": 1, "training.distributed.early_stopping": None,
            "training.refit": False, "baselines.enabled": False})  # fmt: skip
    else:
        write_tables(spark, root, args.rows)
        make = lambda on: config(root, args.iterations, on)  # noqa: E731
        warm = config(root, 20, True)
    once = first_use(warm)
    run_training(spark, warm, run="warmup")  # JIT, caches, workers; registers version 1
    return make, once, spark.read.parquet(str(warm.paths.resolve("features"))).count()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--iterations", type=int, default=600, help="per ensemble member")
    ap.add_argument("--config", help="a config file (configs/demo.yaml): its training, its data")
    ap.add_argument("--transactions", type=int, help="with --config: generated transactions")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override for every run (YAML value), e.g. "
                         "tracking.thread_nice=0")  # fmt: skip
    args = ap.parse_args()
    for item in args.set:
        key, _, value = item.partition("=")
        EXTRA[key] = yaml.safe_load(value)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    log = TrackingLog()
    logging.getLogger("fraud_app.tracking.runs").addHandler(log)
    logging.getLogger("fraud_app.tracking.runs").setLevel(logging.INFO)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        root = Path(tmp)
        if args.config:
            from fraud_app.spark.session import spark_session as app_session

            spark = app_session(demo_config(args.config, root, False, args.transactions))
        else:
            spark = spark_session("bench-tracking-overhead")
        make, once, rows = setup(args, spark, root)
        times: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        tracked: list[dict | None] = []
        for r in range(args.repeats):
            for tracking in (False, True) if r % 2 == 0 else (True, False):
                log.last = None
                c0, t0 = tree_cpu_seconds(), time.perf_counter()
                run_training(spark, make(tracking), run=f"r{r}-{tracking}")
                times[tracking].append(time.perf_counter() - t0)
                c1 = tree_cpu_seconds()
                if c0 is not None and c1 is not None:
                    cpu[tracking].append(c1 - c0)
                if tracking:
                    tracked.append(log.last)
                print(f"tracking={tracking}: {times[tracking][-1]:.1f}s "
                      f"cpu {cpu[tracking][-1] if cpu[tracking] else float('nan'):.1f}s "
                      f"load {os.getloadavg()[0]:.1f} {log.last or ''}", file=sys.stderr)  # fmt: skip
    on, off = statistics.median(times[True]), statistics.median(times[False])
    cpu_on = statistics.median(cpu[True]) if cpu[True] else None
    cpu_off = statistics.median(cpu[False]) if cpu[False] else None
    pairs = [round(a - b, 1) for a, b in zip(times[True], times[False], strict=True)]
    print(json.dumps({
        "benchmark": "tracking_overhead",
        "tracking_overhead_share": round((on - off) / off, 4),
        "tracking_seconds": round(on - off, 1),
        "paired_differences_s": pairs,
        "seconds_tracking_on": [round(t, 1) for t in times[True]],
        "seconds_tracking_off": [round(t, 1) for t in times[False]],
        "tracking_cpu_share": round((cpu_on - cpu_off) / cpu_off, 4) if cpu_off else None,
        "cpu_seconds_tracking_on": [round(t, 1) for t in cpu[True]],
        "cpu_seconds_tracking_off": [round(t, 1) for t in cpu[False]],
        "tracking_thread": tracked,
        "first_use_seconds": once,
        "config": args.config or "synthetic",
        "overrides": EXTRA,
        "feature_rows": rows,
        **({} if args.config else {"iterations_per_member": args.iterations, "members": 2}),
        **info, "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
