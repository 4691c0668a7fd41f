"""Benchmark: the ways feature vectors can travel from the JVM to NumPy for scoring, with a
trivial model (the row sum), so only the data path is measured.

Same cached rows as bench/scoring.py (`id`, 35 float columns and their `features` array).
Variants, each written to Spark's `noop` sink, alternating, first round a warm-up:

- scan: the cached `id` and `features` only (no Python)
- list: `features` (one list<float> column) into a scalar Arrow UDF: our scorer's path
- cols: the 35 float columns into a scalar Arrow UDF (np.column_stack, no pandas)
- vec: the 35 columns -> `array(...)` in the JVM -> the list UDF (the score job's path:
  its feature table has one column per feature)
- map: the 35 columns through mapInArrow, returning id + score
- pandas_struct: a struct of the 35 columns into a pandas UDF: the layout and conversion
  of the peer, `mlflow.pyfunc.spark_udf` (the named peer here)

Per variant: wall and CPU seconds (driver + JVM + Python workers) per round. Last line:
one JSON object with `list_cpu_ratio_vs_pandas_struct` (peer's CPU over ours).

    .venv/bin/python bench/scoring_paths.py --rows 400000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _spark_common import machine, spark_session
from scoring import make_rows, tree_cpu_seconds


def list_sum(col: pa.Array) -> pa.Array:
    width = len(col.values) // max(len(col), 1)
    X = col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), width)
    return pa.array(X.sum(axis=1, dtype=np.float64))


def cols_sum(*cols: pa.Array) -> pa.Array:
    X = np.column_stack([c.to_numpy(zero_copy_only=False) for c in cols])
    return pa.array(X.sum(axis=1, dtype=np.float64))


def pandas_sum(frame):
    import pandas as pd

    return pd.Series(frame.to_numpy(dtype=np.float32).sum(axis=1, dtype=np.float64))


def map_sum(batches):
    for b in batches:
        cols = [b.column(i).to_numpy(zero_copy_only=False) for i in range(1, b.num_columns)]
        s = pa.array(np.column_stack(cols).sum(axis=1, dtype=np.float64))
        yield pa.RecordBatch.from_arrays([b.column(0), s], names=["id", "s"])


def frames(df, names: list[str]) -> dict:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from pyspark.sql.functions import arrow_udf, pandas_udf

    u_list = arrow_udf(list_sum, T.DoubleType())
    u_cols = arrow_udf(cols_sum, T.DoubleType())
    u_pandas = pandas_udf(pandas_sum, T.DoubleType())
    cols = [F.col(c) for c in names]
    flat = df.select("id", *names)
    return {
        "scan": df.select("id", "features"),
        "list": df.select("id", u_list("features").alias("s")),
        "cols": flat.select("id", u_cols(*cols).alias("s")),
        "vec": flat.select("id", u_list(F.array(*cols)).alias("s")),
        "map": flat.mapInArrow(map_sum, "id long, s double"),
        "pandas_struct": df.select("id", u_pandas(F.struct(*cols)).alias("s")),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--features", type=int, default=35)
    args = ap.parse_args()

    info = machine()
    spark = spark_session("bench-scoring-paths")
    df = make_rows(spark, args.rows, args.features)
    todo = frames(df, [f"f{j:02d}" for j in range(args.features)])
    wall = {k: [] for k in todo}
    cpu = {k: [] for k in todo}
    for r in range(args.rounds + 1):
        for name, frame in todo.items():
            c0, t0 = tree_cpu_seconds(), time.perf_counter()
            frame.write.format("noop").mode("overwrite").save()
            t, c = time.perf_counter() - t0, tree_cpu_seconds() - c0
            if r > 0:
                wall[name].append(round(t, 3))
                cpu[name].append(round(c, 2))
            print(f"round {r} {name}: {t:.2f}s, {c:.2f} CPU s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    out = {
        **info,
        "rows": args.rows,
        "features": args.features,
        "rounds": args.rounds,
        "seconds": wall,
        "cpu_seconds": cpu,
        "median_seconds": {k: statistics.median(v) for k, v in wall.items()},
        "median_cpu_seconds": med,
        "list_cpu_ratio_vs_pandas_struct": round(med["pandas_struct"] / med["list"], 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }
    spark.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
