"""Benchmark: how the daily steps scale with the NUMBER OF DATES (a backfill of a year or
two, a score of a long range), at few rows a day.

Generated data (`fraud_app.data.generator`, `--days` days from `--start` at about
`--rows-per-day` rows a day, the shipped feature specs) published by the ETL; then, each
counted: `etl` (replace), `validate` (canonical), `features` (full), `score` over the
whole range and over its last day, `evaluate` over the whole range (a hand-made model,
tests/fraud_app/scoring/table_model.py), `etl --mode append` of the day after the range
and `features` (incremental) after it. Per step: wall seconds, Spark jobs (the
DAGScheduler's job ids: every job of the driver, whatever thread fired it), Py4J round
trips (the gateway connection's commands), HadoopFs calls by method (the app's file
listings) and the Py4J round trips made inside them by their caller (`fs_py4j`,
`fs_py4j_sites`: `module:function:line method`), the driver's RSS after the step and its peak, and the jobs per call site (the
innermost fraud_app frame of the action that fired them, bench/spark_jobs.py's
instrumentation). One local[2] session, the test suite's settings (AQE on).

    .venv/bin/python bench/date_scaling.py --days 30 --rows-per-day 100
    .venv/bin/python bench/date_scaling.py --days 180 --steps etl,features,score_range

prints one JSON line (docs/PROBES.md, session 39, helper backfill39; session 40, list40).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spark_jobs  # the per-call-site job counts

_py4j = [0]
_py4j_sites: Counter = Counter()
_fs_calls: Counter = Counter()
_fs_caller: list[str] = [""]  # the caller of the HadoopFs call under way ("" outside one)
_fs_py4j: Counter = Counter()  # Py4J round trips inside HadoopFs calls, by their caller


def _count_py4j() -> None:
    """Count every command sent to the JVM (py4j's classic and pinned-thread clients)."""
    from py4j import clientserver, java_gateway

    for cls in (clientserver.ClientServerConnection, java_gateway.GatewayConnection):
        inner = cls.send_command

        @functools.wraps(inner)
        def counted(self, command, *a, _inner=inner, **k):
            _py4j[0] += 1
            _py4j_sites[spark_jobs._site()] += 1
            if _fs_caller[0]:
                _fs_py4j[_fs_caller[0]] += 1
            return _inner(self, command, *a, **k)

        cls.send_command = counted


def _count_fs() -> None:
    """Count the app's HadoopFs calls by method (the outermost call only)."""
    from fraud_app.etl.fs import HadoopFs

    depth = [0]
    for name in list(vars(HadoopFs)):
        inner = getattr(HadoopFs, name)
        if name.startswith("__") or not callable(inner):
            continue

        @functools.wraps(inner)
        def counted(*a, _inner=inner, _name=name, **k):
            if not depth[0]:
                _fs_calls[_name] += 1
                _fs_caller[0] = _caller(_name)
            depth[0] += 1
            try:
                return _inner(*a, **k)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    _fs_caller[0] = ""

        setattr(HadoopFs, name, counted)


def _caller(method: str) -> str:
    """`module:function:line method` of the first frame outside fraud_app.etl.fs."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in (
        "fraud_app.etl.fs",
        "fraud_app.etl.fs_walk",
        __name__,
    ):
        frame = frame.f_back
    if frame is None:
        return method
    name = frame.f_globals.get("__name__", "").removeprefix("fraud_app.")
    return f"{name}:{frame.f_code.co_name}:{frame.f_lineno} {method}"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return -1.0


def _next_job(sc) -> int:
    return int(sc._jsc.sc().dagScheduler().nextJobId())


def _config(root: Path, **over):
    from fraud_app.config import load_config
    from fraud_app.data.generator import RAW_COLUMN_NAMES

    return load_config(None, {"paths.root": str(root), "tracking.enabled": False,
                              "etl.columns": RAW_COLUMN_NAMES, **over})  # fmt: skip


def _generate(spark, raw: Path, extra: Path, start: dt.date, days: int, per_day: int) -> None:
    """`days` + 1 days generated as one world; the last day written apart (the append)."""
    from pyspark.sql import functions as F

    from fraud_app.data.generator import generate_raw, write_raw

    cfg = _config(raw.parent).generate.model_copy(update={
        "n_transactions": (days + 1) * per_day, "n_cards": max(50, per_day * 5),
        "n_merchants": 200, "start_date": start, "days": days + 1, "partitions": 2,
        "fraud_rate": 0.02,
    })  # fmt: skip
    df = generate_raw(spark, cfg).cache()
    last = str(start + dt.timedelta(days=days))
    write_raw(df.where(F.substring("ts", 1, 10) < last), raw, "csv")
    write_raw(df.where(F.substring("ts", 1, 10) >= last).coalesce(1), extra, "csv")
    df.unpersist()


def _steps(spark, root: Path, raw: Path, extra: Path, start: dt.date, days: int, tmp: Path):
    from fraud_app.etl.pipeline import run_etl
    from fraud_app.etl.table_read import read_table
    from fraud_app.features.pipeline import build_feature_table
    from fraud_app.scoring.evaluate import run_evaluation
    from fraud_app.scoring.job import run_scoring
    from fraud_app.validation.validate import validate_canonical
    from tests.fraud_app.scoring.table_model import table_model

    end = start + dt.timedelta(days=days - 1)
    cfg = _config(root, **{"etl.input": str(raw)})
    model: list[str] = []

    def validate():
        df = read_table(spark, cfg.canonical_table(), "validate", "etl", None)
        rep = validate_canonical(spark, df, _config(root, **{"validation.fail_on_error": False}))
        return {"success": rep.success, "errors": [r.name for r in rep.errors]}

    def features():
        s = build_feature_table(spark, cfg)
        if not model:
            model.append(table_model(cfg, tmp / "model")[0])
        b = s.extra["build"]
        return {"rows": s.rows, "build": {k: b.get(k) for k in ("mode", "start", "reason")}}

    def score(a, b, job):
        r = run_scoring(spark, cfg, start=a, end=b, model_uri=model[0], job_id=job).summary
        return {"rows": sum(d["rows"] for d in r["dates"]), "dates": len(r["dates"]),
                "source": r["features_source"]["source"]}  # fmt: skip

    def evaluate():
        rep, _ = run_evaluation(spark, cfg, model_uri=model[0], start=start, end=end,
                                name="scaling", replace=True)  # fmt: skip
        return {"rows": rep["rows"], "frauds": rep["frauds"]}

    def append():
        r = run_etl(spark, _config(root, **{"etl.input": str(extra), "etl.mode": "append"}))
        return {"rows": r.output_rows}

    return {
        "etl": lambda: {"rows": run_etl(spark, cfg).output_rows},
        "validate": validate,
        "features": features,
        "score_range": lambda: score(start, end, "range"),
        "score_day": lambda: score(end, end, "day"),
        "evaluate": evaluate,
        "append": append,
        "features_incremental": features,
    }


def _files(root: Path) -> dict:
    out = {}
    for name in ("canonical", "features", "scores"):
        p = root / name
        if p.exists():
            out[name] = {
                "partitions": sum(1 for d in p.iterdir() if d.name.startswith("event_date=")),
                "files": sum(1 for f in p.rglob("*.parquet")),
            }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--rows-per-day", type=int, default=100)
    p.add_argument("--start", default="2023-12-01", type=dt.date.fromisoformat)
    p.add_argument("--steps", default="etl,validate,features,score_range,score_day,evaluate,"
                   "append,features_incremental")  # fmt: skip
    p.add_argument("--master", default="local[2]")
    a = p.parse_args()
    import logging

    from fraud_app.spark.session import get_spark

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("fraud_app.features").setLevel(logging.INFO)
    spark = get_spark(a.master, "date-scaling", {
        "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
        "spark.driver.memory": "1g", "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN", "spark.ui.enabled": "false",
    })  # fmt: skip
    sc = spark.sparkContext
    spark_jobs._instrument(sc)
    _count_py4j()
    _count_fs()
    out: dict = {"days": a.days, "rows_per_day": a.rows_per_day, "start": str(a.start)}
    with tempfile.TemporaryDirectory(prefix="date-scaling-") as tmp:
        tmp = Path(tmp)
        raw, extra, root = tmp / "raw", tmp / "extra", tmp / "work"
        t0 = time.perf_counter()
        _generate(spark, raw, extra, a.start, a.days, a.rows_per_day)
        out["generate_s"] = round(time.perf_counter() - t0, 1)
        steps = _steps(spark, root, raw, extra, a.start, a.days, tmp)
        wanted = a.steps.split(",")
        order = [s for s in steps if s in wanted or s in ("etl", "features")]
        for name in order:
            spark_jobs._sites.clear()
            _fs_calls.clear()
            _py4j_sites.clear()
            _fs_py4j.clear()
            j0, r0, t0 = _next_job(sc), _py4j[0], time.perf_counter()
            result = steps[name]()
            row = {
                "s": round(time.perf_counter() - t0, 2),
                "jobs": _next_job(sc) - j0,
                "py4j": _py4j[0] - r0,
                "rss_mb": _rss_mb(),
                "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "fs": dict(_fs_calls.most_common(6)),
                "sites": dict(spark_jobs._sites.most_common(8)),
                "py4j_sites": dict(_py4j_sites.most_common(8)),
                "fs_py4j": sum(_fs_py4j.values()),
                "fs_py4j_sites": dict(_fs_py4j.most_common(8)),
                "result": result,
            }
            if name.startswith("features"):  # not counted: the table's rows read back
                row["table_rows"] = spark.read.parquet(str(root / "features")).count()
            if name in wanted:
                out[name] = row
            print(name, json.dumps(row), file=sys.stderr, flush=True)
        out["files"] = _files(root)
    spark.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
