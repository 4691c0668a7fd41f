"""Benchmark: `etl.mode: append` of one day onto a table of many days, the code before the
incremental append (`--old-rev`, which rewrote the whole table and quarantine) against
this checkout (which rewrites only the dates that receive rows).

The input is synthetic CSV (NOT timed): `--days` days of `--rows-per-day` transactions
become the published table (one replace-mode ETL run of this checkout), and a delivery
of the next day (`--rows-per-day` rows) plus a few late rows for the day before
yesterday and a few re-delivered (duplicate) rows of yesterday is appended. Each run
copies the published table and quarantine to a fresh root and runs the append in its own
process (a fresh Spark local[2]; a tiny append first, untimed, so JIT warm-up is not
charged), alternating old and new. The time is the wall time of the run_etl call (its report's `seconds`, which stops before
the swap, is printed too).
Both must publish the same table (rows, sum of amounts, distinct ids).

    git worktree add /tmp/etl-old 4bab838   # or --old-rev: a git archive of that rev
    .venv/bin/python bench/etl_append.py --days 100 --rows-per-day 3000 --rounds 3

The last line printed is one JSON object: the seconds of every run, the medians, the
ratio old/new, the table digests and the load average before and after.

`--drift-checks` (session 34): only the append's column drift checks
(fraud_app.etl.column_drift, against the RECENT_DATES newest published dates), in one warm
Spark session: `--old-rev`'s two functions (`emptied_columns`, `unseen_values`: a job
each, loaded from its source) against this checkout's `column_drift` (one job), alternated
`--rounds` times on the same `--rows-per-day` added rows and 7 published dates (synthetic,
Parquet, not timed); wall and JVM CPU seconds, results asserted equal.

    .venv/bin/python bench/etl_append.py --drift-checks --old-rev 0d91245 --rows-per-day 200000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label"
START = datetime(2024, 1, 1)
CONF = {"spark.sql.shuffle.partitions": "8", "spark.driver.memory": "2g"}


def _rows(rng: random.Random, day: int, n: int, prefix: str) -> list[str]:
    base = START + timedelta(days=day)
    return [
        f"{prefix}{day}-{i},c{rng.randrange(5000)},m{rng.randrange(800)},"
        f"{base + timedelta(seconds=rng.randrange(86400)):%Y-%m-%d %H:%M:%S},"
        f"{rng.randrange(1, 50000) / 100},{int(rng.random() < 0.002)}"
        for i in range(n)
    ]


def make_inputs(work: Path, days: int, per_day: int) -> tuple[Path, Path]:
    rng = random.Random(7)
    history = [_rows(rng, d, per_day, "t") for d in range(days)]
    hist = work / "history" / "all.csv"
    hist.parent.mkdir(parents=True)
    hist.write_text("\n".join([HEADER, *(r for day in history for r in day)]) + "\n")
    delivery = _rows(rng, days, per_day, "t")  # the new day
    delivery += history[-1][:30]  # re-delivered rows of yesterday: duplicates
    delivery += _rows(rng, days - 2, 10, "late")  # late rows for the day before yesterday
    new = work / "delivery" / "day.csv"
    new.parent.mkdir(parents=True)
    new.write_text("\n".join([HEADER, *delivery]) + "\n")
    return hist, new


def _config(root: Path, src: Path, mode: str):
    from fraud_app.config import load_config

    etl = {"input": str(src), "timestamp_format": "yyyy-MM-dd HH:mm:ss", "mode": mode}
    return load_config(None, {"paths.root": str(root), "etl": etl})


def one_run(root: Path, src: Path, warm: Path) -> dict:
    """In a child process: a tiny append (warm-up), then the timed one; its digest."""
    from pyspark.sql import functions as F

    from fraud_app.etl.pipeline import run_etl
    from fraud_app.spark.session import get_spark

    spark = get_spark("local[2]", "bench-etl-append", CONF)
    run_etl(spark, _config(warm / "root", warm / "in.csv", "append"))
    started = time.monotonic()
    r = run_etl(spark, _config(root, src, "append"))
    wall = round(time.monotonic() - started, 3)  # r.seconds stops before the swap
    t = spark.read.parquet(r.output_path)
    digest = t.agg(F.count("*"), F.round(F.sum("amount"), 2), F.countDistinct("transaction_id"))
    return {"seconds": wall, "etl_seconds": r.seconds, "output_rows": r.output_rows, "previous_rows": r.previous_rows,
            "duplicates": r.duplicate_rows, "digest": list(digest.first())}  # fmt: skip


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _child(src_dir: Path, root: Path, delivery: Path, warm: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src_dir), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}  # fmt: skip
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(root), str(delivery),
           str(warm)]  # fmt: skip
    out = subprocess.run(cmd, env=env, cwd=src_dir, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"child run failed ({src_dir}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def old_source(work: Path, rev: str, given: str | None) -> Path:
    if given:
        return Path(given)
    dest = work / "old-src"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "fraud_app", "dlcore"],
                             capture_output=True, check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _jvm_cpu_s(spark) -> float:
    """utime + stime of the Spark JVM (every thread), in seconds."""
    pid = spark.sparkContext._gateway.proc.pid
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drift_checks(a, work: Path) -> None:
    """`--drift-checks` (module doc)."""
    import importlib.util

    from fraud_app.etl import column_drift
    from fraud_app.spark.session import get_spark

    spec = importlib.util.spec_from_file_location(
        "old_column_drift", old_source(work, a.old_rev, a.old_src) / "fraud_app/etl/column_drift.py"
    )
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    spark = get_spark("local[2]", "bench-drift-checks", CONF)
    spark.sparkContext.setLogLevel("ERROR")
    n = a.rows_per_day

    def rows(first: int, count: int, mcc: str):
        return spark.range(first, first + count).selectExpr(
            "concat('m', id % 997) as merchant_id", f"{mcc} as mcc",
            "element_at(array('POS', 'ECOM', 'ATM'), cast(id % 3 + 1 as int)) as channel",
            "if(id % 5 = 0, 'FR', 'DE') as country", "'DE' as card_country",
            "if(id % 3 = 0, concat('d', id % 101), null) as device_id",
        )  # fmt: skip

    rows(0, 7 * n, "cast(5411 + id % 7 as string)").write.parquet(str(work / "published"))
    # the delivery: mcc spelt through a float (unseen values), device_id emptied
    rows(7 * n, n, "concat(cast(5411 + id % 7 as string), '.0')").drop("device_id").selectExpr(
        "*", "cast(null as string) as device_id"
    ).write.parquet(str(work / "added"))
    published, added = (spark.read.parquet(str(work / k)) for k in ("published", "added"))
    dates = ["2024-01-01", "2024-01-07"]
    impls = {
        "old_two_jobs": lambda: (
            old.emptied_columns(added, published, dates),
            old.unseen_values(added, published, dates),
        ),
        "new_one_job": lambda: column_drift.column_drift(added, published, dates),
    }
    impls["new_one_job"]()  # warm-up, not timed
    out: dict[str, dict[str, list]] = {k: {"wall_s": [], "jvm_cpu_s": []} for k in impls}
    results = {}
    for i in range(a.rounds):
        for name in list(impls) if i % 2 == 0 else list(impls)[::-1]:
            wall, cpu = time.perf_counter(), _jvm_cpu_s(spark)
            results[name] = impls[name]()
            out[name]["jvm_cpu_s"].append(round(_jvm_cpu_s(spark) - cpu, 2))
            out[name]["wall_s"].append(round(time.perf_counter() - wall, 2))
    assert results["old_two_jobs"] == results["new_one_job"], results
    med = {k: statistics.median(v["jvm_cpu_s"]) for k, v in out.items()}
    print(json.dumps({
        "bench": "drift_checks", "added_rows": n, "published_rows": 7 * n, "old_rev": a.old_rev,
        **out, "cpu_ratio_old_new": round(med["old_two_jobs"] / med["new_one_job"], 2),
        "found": {k: sorted(v) for k, v in zip(("emptied", "unseen"), results["new_one_job"], strict=True)},
        "load": load_avg(),
    }))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=100)
    p.add_argument("--rows-per-day", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--old-rev", default="4bab838", help="the commit before the incremental append")
    p.add_argument("--old-src", help="a checkout of the old code (instead of --old-rev)")
    p.add_argument("--workdir", help="default: a temp dir, removed at the end")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--drift-checks", action="store_true", help="only the drift checks (doc)")
    a = p.parse_args()
    if a.child:
        print(json.dumps(one_run(*map(Path, a.child))))
        return
    work = Path(a.workdir or tempfile.mkdtemp(prefix="etl-append-"))
    try:
        drift_checks(a, work) if a.drift_checks else _bench(a, work)
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


def _bench(a, work: Path) -> None:
    from fraud_app.etl.pipeline import run_etl
    from fraud_app.spark.session import get_spark

    history, delivery = make_inputs(work, a.days, a.rows_per_day)
    warm = work / "warm"
    warm.mkdir()
    (warm / "in.csv").write_text(f"{HEADER}\nw1,c1,m1,2024-01-01 10:00:00,1.5,0\n")
    spark = get_spark("local[2]", "bench-etl-append-base", CONF)
    base = run_etl(spark, _config(work / "base", history, "replace"))
    spark.stop()
    sources = {"old": old_source(work, a.old_rev, a.old_src), "new": REPO}
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    load_before = load_avg()
    for i in range(a.rounds):
        for impl in ("old", "new") if i % 2 == 0 else ("new", "old"):
            root = work / f"run-{impl}-{i}"
            shutil.copytree(work / "base", root)
            shutil.rmtree(warm / "root", ignore_errors=True)
            runs[impl].append({**_child(sources[impl], root, delivery, warm), "load": load_avg()})
            shutil.rmtree(root)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    digests = {k: {json.dumps(r["digest"]) for r in v} for k, v in runs.items()}
    print(json.dumps({
        "bench": "etl_append", "days": a.days, "rows_per_day": a.rows_per_day,
        "published_rows": base.output_rows, "old_rev": a.old_rev,
        "old_seconds": [r["seconds"] for r in runs["old"]],
        "new_seconds": [r["seconds"] for r in runs["new"]],
        "old_etl_seconds": [r["etl_seconds"] for r in runs["old"]],
        "new_etl_seconds": [r["etl_seconds"] for r in runs["new"]],
        "median_old_s": med["old"], "median_new_s": med["new"],
        "ratio_old_new": round(med["old"] / med["new"], 2),
        "same_table": digests["old"] == digests["new"] and len(digests["old"]) == 1,
        "digest": runs["new"][0]["digest"], "load_before": load_before,
        "loads": {k: [r["load"][0] for r in v] for k, v in runs.items()},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
