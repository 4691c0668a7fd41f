"""Benchmark: one `features` run, incremental vs full, on a project `daily_cycle.py` left.

Marks the recorded state of one canonical date (`--back` dates before the last) as changed
in the feature table's `_features.json` (and reseals its `_files.json`), so the next
incremental run recomputes the dates from there, as after an append or a labels run that
touched that date; then times, in one warm Spark session, a full rebuild and the
incremental run alternately (`--repeats` pairs). INFO lines with the process's ms: the
prelude (value counts, plan), and the write + commit seconds of each build.

    .venv/bin/python bench/features_incremental.py --cycle /tmp/feat32b_cycle200 --days 203

`--labels-only`: instead, before each build a `labels` feed confirms one published normal
of that date as a fraud, known at the table's last timestamp (a correction 0 -> 1, as
`labels` applies it: only label and label_time change), and the builds are the full
rebuild, the incremental build at the date-level d0 (the table's record of its dates'
row digests taken away: what the build did before session 33) and the incremental build
that finds the date changed only in labels (fraud_app.features.label_changes).

`--value-counts ROWS` (session 34): no project; a synthetic canonical table of ROWS rows
over `--days` dates (every canonical column, Parquet, not timed) and the value counts'
pass of `features` (fraud_app.features.value_counts, the shipped specs' entity columns)
timed in one warm session, `--repeats` alternated rounds of: the row digests of every
date (a full build, and every build before session 34), of one date (an incremental
build after a daily append: the others carried) and of none (the floor). Wall seconds
and the JVM's CPU seconds (/proc/<pid>/stat: utime + stime of every Spark thread).

    .venv/bin/python bench/features_incremental.py --value-counts 1000000 --days 100 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

from daily_cycle import _base_overrides, _config
from pyspark.sql import functions as F


def _mark(spark, table: str, back: int) -> str:
    from fraud_app.etl.fs import HadoopFs
    from fraud_app.etl.manifest import record

    path = Path(table) / "_features.json"
    meta = json.loads(path.read_text())
    parts = meta["incremental"]["partitions"]
    day = sorted(parts)[-1 - back]
    parts[day] = "changed"
    # its rows' digest too: a change of more than labels (else the run finds the date's
    # labels as they were and recomputes nothing, fraud_app.features.label_changes)
    meta["incremental"].get("digests", {})[day] = "changed"
    path.write_text(json.dumps(meta, indent=2))
    path.with_name("._features.json.crc").unlink(missing_ok=True)
    record(HadoopFs(spark), table, ("_features.json",))
    return day


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycle", type=Path, help="daily_cycle.py's --out (required)")
    p.add_argument("--days", type=int, help="its --history + --days (required)")
    p.add_argument("--rows-per-day", type=int, default=100)
    p.add_argument("--back", type=int, nargs="+", default=[0],
                   help="dates before the last marked changed (each in turn)")  # fmt: skip
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--labels-only", action="store_true",
                   help="a label correction on the date instead of a marked change")  # fmt: skip
    p.add_argument("--value-counts", type=int, metavar="ROWS",
                   help="time the value counts' pass on a synthetic table (doc)")  # fmt: skip
    args = p.parse_args()
    if args.value_counts:
        _value_counts(args.value_counts, args.days or 100, args.repeats)
        return
    if args.cycle is None or args.days is None:
        p.error("--cycle and --days are required (or --value-counts ROWS --days N)")
    logging.basicConfig(level=logging.WARNING, format="%(relativeCreated)8.0f ms %(message)s")
    logging.getLogger("fraud_app.features").setLevel(logging.INFO)

    from fraud_app.spark.session import spark_session

    shape = argparse.Namespace(rows_per_day=args.rows_per_day, tracking=False)
    config = _config(args.cycle / "proj", _base_overrides(shape, args.days))
    full = config.model_copy(
        update={"features": config.features.model_copy(update={"incremental": False})}
    )
    spark = spark_session(config)
    out = []
    if args.labels_only:
        for back in args.back:
            for _ in range(args.repeats):
                for mode in ("full", "date-level", "labels-only"):
                    day = _confirm(spark, config, back, args.cycle / f"feed-{len(out)}.csv")
                    if mode == "date-level":
                        _forget_digests(spark, config.feature_table())
                    out.append(_timed(spark, full if mode == "full" else config, mode, day))
                    print(json.dumps(out[-1]), flush=True)
        return
    for back in args.back:
        for _ in range(args.repeats):
            for mode, cfg in (("full", full), ("incremental", config)):
                out.append(_timed(spark, cfg, mode, _mark(spark, config.feature_table(), back)))
                print(json.dumps(out[-1]), flush=True)


def _jvm_cpu_s(spark) -> float:
    """utime + stime of the Spark JVM (every thread), in seconds."""
    pid = spark.sparkContext._gateway.proc.pid
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _value_counts(rows: int, days: int, repeats: int) -> None:
    """`--value-counts` (module doc)."""
    import tempfile

    from fraud_app.config import load_config
    from fraud_app.features.pipeline import feature_set_from_config
    from fraud_app.features.value_counts import value_counts
    from fraud_app.spark.session import get_spark

    spark = get_spark("local[2]", "bench-value-counts", {"spark.sql.shuffle.partitions": "8",
                                                         "spark.driver.memory": "2g"})  # fmt: skip
    spark.sparkContext.setLogLevel("ERROR")
    features = feature_set_from_config(load_config(None, {}).features).features
    with tempfile.TemporaryDirectory() as tmp:
        spark.range(rows).selectExpr(
            "concat('t', id) as transaction_id",
            "concat('c', id % 20011) as card_id",
            "concat('m', id % 997) as merchant_id",
            f"timestamp_seconds(1704067200 + cast(id * {days} * 86400 / {rows} as bigint)) "
            "as timestamp",
            "round(rand(1) * 500, 2) as amount",
            "cast(rand(2) < 0.01 as int) as label",
            "if(rand(3) < 0.01, timestamp_seconds(1704153600 + id % 86400), null) as label_time",
            "cast(5411 + id % 7 as string) as mcc",
            "element_at(array('POS', 'ECOM'), cast(id % 2 + 1 as int)) as channel",
            "'DE' as country",
            "'DE' as card_country",
            "if(id % 3 = 0, concat('d', id % 101), null) as device_id",
            "cast(null as string) as fraud_pattern",
        ).withColumn("event_date", F.to_date("timestamp")).write.partitionBy("event_date").parquet(
            f"{tmp}/canonical"
        )
        df = spark.read.parquet(f"{tmp}/canonical")
        dates = sorted(r[0].isoformat() for r in df.select("event_date").distinct().collect())
        modes = {"every_date": None, "one_date": {dates[-1]}, "none": set()}
        with value_counts(df, features):  # warm-up (JIT, file listing), not timed
            pass
        out: dict[str, dict[str, list]] = {m: {"wall_s": [], "jvm_cpu_s": []} for m in modes}
        digests = {}
        for _ in range(repeats):
            for mode, hashed in modes.items():
                wall, cpu = time.perf_counter(), _jvm_cpu_s(spark)
                with value_counts(df, features, hashed) as counts:
                    digests[mode] = counts.digests
                out[mode]["jvm_cpu_s"].append(round(_jvm_cpu_s(spark) - cpu, 2))
                out[mode]["wall_s"].append(round(time.perf_counter() - wall, 2))
        # the one date's digest is the one hashing every date gives it
        assert digests["one_date"] == {dates[-1]: digests["every_date"][dates[-1]]}
    print(json.dumps({"rows": rows, "dates": len(dates), "cpus": os.cpu_count(),
                      "load_avg_1m": round(os.getloadavg()[0], 2), **out}))  # fmt: skip


def _confirm(spark, config, back: int, feed: Path) -> str:
    """A `labels` feed turning the first published normal of the date `back` dates before
    the last into a fraud known at the table's last timestamp; that date."""
    from pyspark.sql import functions as F

    from fraud_app.etl.labels import run_labels

    df = spark.read.parquet(config.canonical_table())
    days = sorted(r[0].isoformat() for r in df.select("event_date").distinct().collect())
    day = days[-1 - back]
    last = df.agg(F.max("timestamp")).first()[0]
    row = df.where((F.col("event_date") == day) & (F.col("label") == 0))
    tid = row.orderBy("transaction_id").select("transaction_id").first()[0]
    feed.write_text(f"txn_id,is_fraud,label_ts\n{tid},1,{last:%Y-%m-%d %H:%M:%S}\n")
    assert run_labels(spark, config, [str(feed)]).labels_corrected == 1
    return day


def _forget_digests(spark, table: str) -> None:
    """The table's record without its dates' row digests: the build starts at the first
    changed date, as before session 33."""
    from fraud_app.etl.fs import HadoopFs
    from fraud_app.etl.manifest import record

    path = Path(table) / "_features.json"
    meta = json.loads(path.read_text())
    meta["incremental"].pop("digests", None)
    path.write_text(json.dumps(meta, indent=2))
    path.with_name("._features.json.crc").unlink(missing_ok=True)
    record(HadoopFs(spark), table, ("_features.json",))


def _timed(spark, cfg, mode: str, day: str) -> dict:
    from fraud_app.features.pipeline import build_feature_table

    started = time.monotonic()
    summary = build_feature_table(spark, cfg)
    build = summary.extra["build"]
    return {"mode": mode, "changed": day, "from": build.get("from"),
            "labels_only": build.get("labels_only", []),
            "seconds": round(time.monotonic() - started, 1),
            "write_commit_s": summary.seconds}  # fmt: skip


if __name__ == "__main__":
    main()
