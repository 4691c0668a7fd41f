"""Tracking cost: `run_training` wall time with MLflow tracking on vs off, in the same run.

Peer: the same training with `tracking.enabled: false` (same process, same Spark session,
same data, same seeds), alternated on/off `--repeats` times. "On" pays everything tracking
adds: table digests (one Spark pass per table), config/lineage params, per-member and
per-baseline nested runs, metric histories, artifacts, logging + registering the pyfunc
model and the promotion gate (which scores the champion on the validation window).
Baselines are off in both, so the difference is tracking alone. The store is sqlite in
a temporary directory.

  PYTHONPATH=. python bench/tracking_overhead.py --rows 60000 --iterations 600 --repeats 2

Prints one JSON line: tracking_overhead_share = (median on - median off) / median off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
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


def config(root: Path, iterations: int, tracking: bool):
    return load_config(None, {
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--iterations", type=int, default=600, help="per ensemble member")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    info = machine()
    spark = spark_session("bench-tracking-overhead")
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        root = Path(tmp)
        write_tables(spark, root, args.rows)
        run_training(spark, config(root, 20, False), run="warmup")  # JIT, caches, workers
        times: dict[bool, list[float]] = {True: [], False: []}
        for r in range(args.repeats):
            for tracking in (False, True) if r % 2 == 0 else (True, False):
                t0 = time.perf_counter()
                run_training(spark, config(root, args.iterations, tracking), run=f"r{r}-{tracking}")
                times[tracking].append(time.perf_counter() - t0)
                print(f"tracking={tracking}: {times[tracking][-1]:.1f}s", file=sys.stderr)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(json.dumps({
        "benchmark": "tracking_overhead",
        "tracking_overhead_share": round((on - off) / off, 4),
        "tracking_seconds": round(on - off, 1),
        "seconds_tracking_on": [round(t, 1) for t in times[True]],
        "seconds_tracking_off": [round(t, 1) for t in times[False]],
        "rows": args.rows, "iterations_per_member": args.iterations, "members": 2,
        **info, "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
