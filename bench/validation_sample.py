"""Benchmark: what early stopping's validation rows cost the driver, a weighted sample
(`training.distributed.early_stopping.max_rows`, fraud_app.spark.validation_sample)
against the whole window (`max_rows: null`, what every window got before session 32: the
peer), on a generated window of `--rows` rows of 35 float features and 1 % frauds.

Each side runs in its own Python process (its own JVM), so each peak is its own: the
driver's peak resident memory after the window is cached on the executors and then
collected, and the seconds of the collect (the sample adds a count job). The last figure
is what the sample costs the stopping decision: the AP of a fixed noisy score on the whole
window against the sample's weighted AP of it.

    .venv/bin/python bench/validation_sample.py --rows 2000000 --max-rows 250000

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = """
import json, resource, sys, time
import numpy as np
from pyspark.sql import functions as F
from dlcore.metrics import average_precision
from fraud_app.spark.validation_rows import collect_validation
from fraud_app.spark.session import get_spark

rows, max_rows = int(sys.argv[1]), (None if sys.argv[2] == "none" else int(sys.argv[2]))
spark = get_spark("local[2]", "validation-sample-bench", {
    "spark.ui.enabled": "false", "spark.driver.maxResultSize": "4g",
    "spark.driver.memory": "4g"})
df = spark.range(rows, numPartitions=8).select(
    F.array(*[F.rand(10 + i).cast("float") for i in range(35)]).alias("features"),
    (F.rand(99) < 0.01).cast("double").alias("label")).cache()
df.count()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
d = collect_validation(df, features_col="features", label_col="label", max_rows=max_rows)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
score = d.X[:, 0] + 0.3 * d.y  # a fixed, imperfect ranking
ap = average_precision(d.y, score, sample_weight=d.w)
print(json.dumps({"collected": d.rows, "seconds": seconds, "peak_mb": peak / 1024,
                  "peak_before_mb": before / 1024, "ap": ap}))
"""


def side(rows: int, max_rows: str) -> dict:
    env = {**os.environ, "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(rows), max_rows],
        capture_output=True, text=True, env=env, check=True, timeout=1800,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--max-rows", type=int, default=250_000)
    args = ap.parse_args()
    whole = side(args.rows, "none")
    sample = side(args.rows, str(args.max_rows))
    print(json.dumps({
        "rows": args.rows,
        "max_rows": args.max_rows,
        "sample_rows": sample["collected"],
        "driver_peak_mb_whole": round(whole["peak_mb"]),
        "driver_peak_mb_sample": round(sample["peak_mb"]),
        "driver_peak_ratio_whole_vs_sample": round(whole["peak_mb"] / sample["peak_mb"], 2),
        "collect_seconds_whole": round(whole["seconds"], 1),
        "collect_seconds_sample": round(sample["seconds"], 1),
        "ap_whole": round(whole["ap"], 5),
        "ap_sample_weighted": round(sample["ap"], 5),
        "load_avg_1m": os.getloadavg()[0],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
