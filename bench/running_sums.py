"""Benchmark: `frame: running` windows of non-integer values, exact running sums (64-bit
integer limbs of 1e-5 units since session 53; DECIMAL in session 52) vs the double running
sums before, and the scorer's bounded slice vs all history.

A synthetic canonical table (`--rows` rows over `--days` days, `--merchants` merchants,
amounts 10,000.00-10,000.99 and lognormal ones; every canonical column; cached, not
timed), a spec of merchant running-frame features (std 1d / 7d, mean 7d, sum 1d, z-score
7d, a count 7d), and in one warm Spark session, `--repeats` alternated rounds of:

- `window`: compute_features over the whole table, written to Spark's noop sink (the
  window stage as `features` runs it, without the Parquet write);
- `slice` / `all`: the features of the table's last date, from the history
  `history_seconds` reads now (the 7-day lookback) and from all history (what `score`
  read for such features before session 52), each to the noop sink.

`--baseline DIR`: also the `window` figure of the code in DIR (a `git archive` of a commit
before: fb3e23d3, whose running sums were doubles, or 29c4364d, session 52's DECIMAL sums),
run in a child process on the same
table (the same generator and seed), alternated with this tree's, so the ratio compares
the two computations on one machine in one run:

    git archive fb3e23d3 | tar -x -C /tmp/base
    .venv/bin/python bench/running_sums.py --rows 200000 --days 365 --repeats 3 --baseline /tmp/base

`--baseline` again for another tree (`baseline1`, `baseline2`, ...), alternated too.

Prints one JSON line per measurement and a summary (best and median seconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = dt.date(2024, 1, 1)


def _spark():
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def _table(spark, rows: int, days: int, merchants: int):
    from pyspark.sql import functions as F

    step = days * 86_400 / rows
    i = F.col("id")
    ts = F.timestamp_seconds(
        F.lit(int(dt.datetime(START.year, START.month, START.day, tzinfo=dt.UTC).timestamp()))
        + (i * F.lit(step)).cast("long")
    )
    tight = F.lit(10_000.0) + ((i * 7919) % 100) / 100
    lognormal = F.round(F.exp(F.lit(4.0) + F.randn(7) * 1.2), 2)
    df = spark.range(rows).select(
        F.concat(F.lit("t"), i.cast("string")).alias("transaction_id"),
        F.concat(F.lit("c"), (i * 31 % 5_000).cast("string")).alias("card_id"),
        F.concat(F.lit("m"), (i % merchants).cast("string")).alias("merchant_id"),
        ts.alias("timestamp"),
        F.when(i % merchants < merchants // 2, tight).otherwise(lognormal).alias("amount"),
        F.when(F.rand(11) < 0.02, 1).otherwise(0).alias("label"),
        F.lit("5411").alias("mcc"),
        F.lit("POS").alias("channel"),
        F.lit("DE").alias("country"),
        F.lit("DE").alias("card_country"),
        F.lit(None).cast("string").alias("device_id"),
    )
    return df.withColumn("event_date", F.to_date("timestamp")).cache()


def _features(include_current: bool = False):
    """The spec; `include_current`: its std, mean, sum and count include the current row
    (the `_incl` features: their own exact sums of the row, session 54)."""
    from fraud_app.features.spec import FeatureSet
    from fraud_app.features.window_kinds import AmountZScore, WindowAggregate

    def agg(a, w):
        return WindowAggregate(
            entity="merchant", aggregation=a, window=w, frame="running",
            include_current=include_current,
        )  # fmt: skip

    features = (
        agg("std", "1d"), agg("std", "7d"), agg("mean", "7d"), agg("sum", "1d"),
        agg("count", "7d"), AmountZScore(entity="merchant", window="7d", frame="running"),
    )  # fmt: skip
    return FeatureSet(features=features, label_delay_s=7 * 86_400)


def _timed(df) -> float:
    started = time.perf_counter()
    df.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started


def _measure(kind: str, spark, table, fs, last: dt.date) -> float:
    from pyspark.sql import functions as F

    from fraud_app.features.compile import compute_features

    if kind == "window":
        return _timed(compute_features(table, fs, vector_column=None).df)
    from fraud_app.scoring.history import history_rows, history_seconds

    history = history_seconds(fs, encodings=False) if kind == "slice" else None
    rows = history_rows(table, last, last, history)
    out = compute_features(rows, fs, vector_column=None).df
    return _timed(out.where(F.col("event_date") == F.lit(last)))


def _child(args) -> None:
    """One process: the table, then `--kinds` `--repeats` times, one JSON line each."""
    spark = _spark()
    table = _table(spark, args.rows, args.days, args.merchants)
    table.count()
    fs = _features(args.include_current)
    last = START + dt.timedelta(days=args.days - 1)
    for kind in args.kinds.split(","):  # a warm-up of each (plans, JIT), not reported
        _measure(kind, spark, table, fs, last)
    for r in range(args.repeats):
        for kind in args.kinds.split(","):
            s = _measure(kind, spark, table, fs, last)
            print(json.dumps({"tree": args.tree, "kind": kind, "round": r, "s": round(s, 2)}))
            sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--merchants", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--baseline",
        action="append",
        default=[],
        help="a tree of the code to compare (repeatable: each its own `baseline<i>`)",
    )
    ap.add_argument("--kinds", default="window,slice,all")
    ap.add_argument(
        "--include-current",
        action="store_true",
        help="the spec's std, mean, sum and count with include_current (session 54)",
    )
    ap.add_argument("--tree", default="this")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    trees = [("this", ROOT, args.kinds)]
    for i, base in enumerate(args.baseline):
        name = "baseline" if len(args.baseline) == 1 else f"baseline{i + 1}"
        trees.append((name, Path(base).resolve(), "window"))
    results: dict[tuple[str, str], list[float]] = {}
    for r in range(args.repeats):  # alternate the trees, one round each per process
        for name, tree, kinds in trees:
            env = dict(os.environ, PYTHONPATH=str(tree))
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--tree", name,
                   "--kinds", kinds, "--repeats", "1", "--rows", str(args.rows),
                   "--days", str(args.days), "--merchants", str(args.merchants),
                   *(["--include-current"] if args.include_current else [])]  # fmt: skip
            out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{name} failed:\n{out.stderr[-3000:]}")
            for line in out.stdout.splitlines():
                if line.startswith("{"):
                    row = json.loads(line)
                    print(json.dumps({**row, "round": r}))
                    results.setdefault((row["tree"], row["kind"]), []).append(row["s"])
    summary = {
        f"{tree}:{kind}": {"best": min(v), "median": statistics.median(v), "n": len(v)}
        for (tree, kind), v in results.items()
    }
    for name, tree, _ in trees[1:]:
        this, base = results[("this", "window")], results[(name, "window")]
        summary[f"window this / {name} ({tree.name}), best"] = round(min(this) / min(base), 3)
        summary[f"window this / {name} ({tree.name}), median"] = round(
            statistics.median(this) / statistics.median(base), 3
        )
    if ("this", "all") in results and ("this", "slice") in results:  # `--kinds window`
        summary["scoring all / slice (best)"] = round(
            min(results[("this", "all")]) / min(results[("this", "slice")]), 3
        )
    info = {"rows": args.rows, "days": args.days, "include_current": args.include_current}
    print(json.dumps({**info, "summary": summary}))


if __name__ == "__main__":
    main()
