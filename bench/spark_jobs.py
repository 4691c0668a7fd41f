"""Benchmark: how many Spark jobs a daily step fires, per call site, and its seconds.

A `labels` run of one label and an `etl --mode append` of a small delivery (one row)
on a canonical table the ETL published from 5 rows (tests/fraud_app/etl/test_labels_feed.py's
data); the first load of those 5 rows (`load`: `etl`, replace, into an empty root); a `features` build (`features`: full; `features_incremental`: after a full build
and one day appended, neither counted; `features_labels`: after a full build and a
`labels` run that changes one label of day 2, neither counted) and a `score` of one date (the feature table's
rows, a hand-made model: tests/fraud_app/scoring/table_model.py) on 10 days x 30 rows
with the shipped feature specs (session 38); each `--repeats` times in one warm local[2]
session with the test suite's settings (AQE on). Each Spark job is counted under the innermost `fraud_app` frame of the Python
call that fired it: the DataFrame actions, readers and writers are wrapped here to set a
job group (`SparkContext.setJobGroup`) named after that frame, and
`statusTracker().getJobIdsForGroup` counts the jobs of each group; nothing of the app is
changed. The first run of each step (JVM warm-up) is not counted.

    .venv/bin/python bench/spark_jobs.py --trees base=/tmp/base,now=. --rounds 2
    .venv/bin/python bench/spark_jobs.py --steps features,features_incremental,score

runs each tree in its own process (PYTHONPATH=<tree>), alternating them `--rounds` times,
and prints one JSON line: per tree and step the jobs per run, the seconds of each run, and
the jobs per call site (of the last run); `all` (session 53): every job of the run, the
ones fired outside the wrapped calls too (their own job group), and the stages of those
jobs (`stages_skipped`: already computed, or not run); `site_seconds`: the seconds spent in
each call site's wrapped calls (the rest of a step's seconds is the driver's own work:
planning, listings, footers); `driver` (session 53, plan53): per run the main thread's
Py4J round trips (`py4j_calls`; py4j's garbage-collection thread not counted) and
`plan_s`, the seconds spent building the feature plan (`compute_features`, and an
incremental build's `recompute`: the lazy DataFrame, no job of it); session 54 (ci54b):
`jvm_cpu_s`, the CPU seconds of the JVM thread serving the main Python thread over the
run (the driver's analysis, optimisation and planning, not the tasks), and `plan_cpu_s`,
the same within `plan_s` (not waiting for a core, but still moved by the load). Without
--trees it measures this tree only.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

TRANSACTIONS = (
    "transaction_id,card_id,timestamp,amount,label,label_time\n"
    "t1,c1,2024-01-05 10:00:00,1.5,,\n"
    "t2,c1,2024-01-05 11:00:00,2.5,0,\n"
    "t3,c2,2024-01-06 10:00:00,3.5,,\n"
    "t4,c2,2024-01-07 10:00:00,4.5,,\n"
    "t5,c3,2024-01-07 12:00:00,5.5,1,2024-01-08 00:00:00\n"
)
DELIVERY = (
    "transaction_id,card_id,timestamp,amount,label,label_time\nt6,c1,2024-01-08 09:00:00,6.5,,\n"
)
FEED = "transaction_id,label,label_time\nt1,1,2024-01-09 00:00:00\n"

_sites: Counter = Counter()
_site_seconds: Counter = Counter()
_groups: list[str] = []  # every job group of the counted run (the wrapped calls' and "other")
_serial = [0]
_depth: list[str] = []
_other = ["jobs37-other"]
_driver: Counter = Counter()  # py4j round trips of the main thread; seconds building plans


def _site() -> str:
    """The innermost fraud_app frame of the current Python stack, `module:function`."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name.startswith("fraud_app"):
            return f"{name.removeprefix('fraud_app.')}:{frame.f_code.co_name}:{frame.f_lineno}"
        frame = frame.f_back
    return "other"


def _wrap(cls, method: str, sc) -> None:
    inner = getattr(cls, method)

    @functools.wraps(inner)
    def counted(*args, **kwargs):
        if _depth:  # a wrapped call inside another (first -> head -> take -> collect)
            return inner(*args, **kwargs)
        site = _site()
        _serial[0] += 1
        group = f"jobs37-{_serial[0]}"
        sc.setJobGroup(group, site)
        _depth.append(site)
        _groups.append(group)
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            _depth.pop()
            _site_seconds[site] += time.perf_counter() - t0
            _sites[site] += len(sc.statusTracker().getJobIdsForGroup(group))
            sc.setJobGroup(_other[0], "other")

    setattr(cls, method, counted)


def _instrument(sc) -> None:
    from pyspark.sql import DataFrameReader, DataFrameWriter
    from pyspark.sql.classic.dataframe import (
        DataFrame,
    )  # pyspark.sql.DataFrame's methods are abstract

    for m in (
        "count",
        "collect",
        "first",
        "head",
        "take",
        "isEmpty",
        "toPandas",
        "toLocalIterator",
    ):
        _wrap(DataFrame, m, sc)
    for m in ("parquet", "csv", "json", "load", "text", "orc"):
        _wrap(DataFrameReader, m, sc)
    for m in ("parquet", "save", "csv", "json", "saveAsTable", "insertInto"):
        _wrap(DataFrameWriter, m, sc)
    sc.setJobGroup(_other[0], "other")


_cpu: list = []  # the JVM's ThreadMXBean


def _jvm_cpu() -> float:
    """CPU seconds of the JVM thread that serves the main Python thread (py4j pins one JVM
    thread to each Python thread): the driver's analysis, optimisation and planning of the
    step's calls, not its tasks (executor threads) nor its waits (session 54, helper
    ci54b; it follows the host's load too: at load 24-36 it did not separate two trees
    whose runs differed by ~700 round trips). One Py4J round trip."""
    return _cpu[0].getCurrentThreadCpuTime() / 1e9


def _count_driver(spark) -> None:
    """Counts the main thread's Py4J round trips (not py4j's own garbage-collection
    thread's) and times the feature plan's building (`compute_features`, and `recompute`
    of an incremental build: the lazy DataFrame, before any of its jobs) in `_driver`:
    seconds of wall (`plan_s`) and of the JVM thread's CPU (`plan_cpu_s`)."""
    import threading

    from py4j.clientserver import ClientServerConnection

    import fraud_app.features.pipeline as pipeline

    send = ClientServerConnection.send_command
    main = threading.main_thread()

    def counted(self, *args, **kwargs):
        if threading.current_thread() is main:
            _driver["py4j_calls"] += 1
        return send(self, *args, **kwargs)

    ClientServerConnection.send_command = counted
    _cpu.append(spark._jvm.java.lang.management.ManagementFactory.getThreadMXBean())

    def timed(inner):
        @functools.wraps(inner)
        def run(*args, **kwargs):
            t0, c0 = time.perf_counter(), _jvm_cpu()
            try:
                return inner(*args, **kwargs)
            finally:
                _driver["plan_s"] += time.perf_counter() - t0
                _driver["plan_cpu_s"] += _jvm_cpu() - c0
                _driver["py4j_calls"] -= 2  # the two CPU readings

        return run

    pipeline.compute_features = timed(pipeline.compute_features)
    pipeline.recompute = timed(pipeline.recompute)


def _totals(sc) -> tuple[int, int, int]:
    """(jobs, stages, stages skipped or not run) of every group of the counted run: the
    wrapped calls' and the jobs fired outside them (`other`)."""
    tracker = sc.statusTracker()
    jobs = stages = 0
    for group in _groups:
        for job in tracker.getJobIdsForGroup(group):
            jobs += 1
            info = tracker.getJobInfo(job)
            stages += len(info.stageIds) if info is not None else 0
    run = 0
    for group in _groups:
        for job in tracker.getJobIdsForGroup(group):
            info = tracker.getJobInfo(job)
            for stage in info.stageIds if info is not None else ():
                st = tracker.getStageInfo(stage)
                run += st is not None and st.numTasks > 0 and st.numCompletedTasks > 0
    return jobs, stages, stages - run


def _publish(spark, base: Path) -> Path:
    from fraud_app.config import load_config
    from fraud_app.etl.pipeline import run_etl

    (base / "raw").mkdir(parents=True)
    (base / "raw" / "a.csv").write_text(TRANSACTIONS)
    config = load_config(
        None, {"paths.root": str(base / "work"), "etl": {"input": str(base / "raw")}}
    )
    run_etl(spark, config)
    return base / "work"


def _labels(spark, root: Path, tmp: Path):
    from fraud_app.config import load_config
    from fraud_app.etl.labels import run_labels

    (tmp / "feed.csv").write_text(FEED)
    r = run_labels(spark, load_config(None, {"paths.root": str(root)}), [str(tmp / "feed.csv")])
    return r.labels_filled


def _append(spark, root: Path, tmp: Path):
    from fraud_app.config import load_config
    from fraud_app.etl.pipeline import run_etl

    (tmp / "in").mkdir()
    (tmp / "in" / "b.csv").write_text(DELIVERY)
    over = {"paths.root": str(root), "etl": {"input": str(tmp / "in"), "mode": "append"}}
    return run_etl(spark, load_config(None, over)).output_rows


def _empty(spark, base: Path) -> Path:
    """No table yet: the first load's root."""
    (base / "work").mkdir(parents=True)
    return base / "work"


def _load(spark, root: Path, tmp: Path):
    """The first load: an `etl` (replace) of the 5 rows into an empty root."""
    from fraud_app.config import load_config
    from fraud_app.etl.pipeline import run_etl

    (tmp / "raw").mkdir()
    (tmp / "raw" / "a.csv").write_text(TRANSACTIONS)
    over = {"paths.root": str(root), "etl": {"input": str(tmp / "raw")}}
    return run_etl(spark, load_config(None, over)).output_rows


def _deliver(spark, root: Path, folder: Path, days, mode: str) -> None:
    from tests.fraud_app.features.day_deliveries import deliver

    deliver(spark, root, folder, days, mode)


def _features_root(spark, base: Path) -> Path:
    """10 days x 30 rows published (ETL replace), the shipped feature specs."""
    _deliver(spark, base / "work", base / "raw", range(1, 11), "replace")
    return base / "work"


def _build(spark, root: Path):
    from fraud_app.config import load_config
    from fraud_app.features.pipeline import build_feature_table

    return build_feature_table(spark, load_config(None, {"paths.root": str(root)})).rows


def _features_full(spark, root: Path, tmp: Path):
    return _build(spark, root)


def _incremental_setup(spark, root: Path, tmp: Path) -> None:
    """A full build, then day 11 appended: not counted."""
    _build(spark, root)
    _deliver(spark, root, tmp / "d11", [11], "append")


def _features_incremental(spark, root: Path, tmp: Path):
    return _build(spark, root)


def _labels_setup(spark, root: Path, tmp: Path) -> None:
    """A full build, then a `labels` run that turns one row of day 2 into a fraud: not
    counted (the build after it recomputes from the first date the change reaches)."""
    from fraud_app.config import load_config
    from fraud_app.etl.labels import run_labels

    _build(spark, root)
    (tmp / "feed.csv").write_text("transaction_id,label,label_time\nt02000,1,2024-03-04 00:00:00\n")
    run_labels(spark, load_config(None, {"paths.root": str(root)}), [str(tmp / "feed.csv")])


def _score_setup(spark, root: Path, tmp: Path) -> None:
    """A full build and a hand-made model over it (tests/fraud_app/scoring/table_model.py)."""
    from fraud_app.config import load_config
    from tests.fraud_app.scoring.table_model import table_model

    _build(spark, root)
    table_model(load_config(None, {"paths.root": str(root)}), tmp / "model")


def _score(spark, root: Path, tmp: Path):
    import datetime as dt

    from fraud_app.config import load_config
    from fraud_app.scoring.job import run_scoring

    config = load_config(None, {"paths.root": str(root), "tracking.enabled": False})
    day = dt.date(2024, 3, 10)
    return run_scoring(spark, config, start=day, end=day, model_uri=str(tmp / "model")).summary


STEPS = {"labels": _labels, "append": _append, "load": _load, "features": _features_full,
         "features_incremental": _features_incremental, "features_labels": _features_incremental,
         "score": _score}  # fmt: skip
# the published table a step runs on, and what is done to its copy before it is counted
SOURCES = {"labels": _publish, "append": _publish, "load": _empty, "features": _features_root,
           "features_incremental": _features_root, "features_labels": _features_root,
           "score": _features_root}  # fmt: skip
SETUPS = {
    "features_incremental": _incremental_setup,
    "features_labels": _labels_setup,
    "score": _score_setup,
}


def _one_tree(repeats: int, steps: list[str]) -> dict:
    from fraud_app.spark.session import get_spark

    spark = get_spark("local[2]", "spark-jobs", {
        "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
        "spark.driver.memory": "1g", "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN", "spark.ui.enabled": "false",
    })  # fmt: skip
    sc = spark.sparkContext
    _instrument(sc)
    _count_driver(spark)
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="spark-jobs-") as tmp:
        published: dict = {}
        for step in steps:
            source = SOURCES[step]
            if source not in published:
                published[source] = source(spark, Path(tmp) / f"published-{len(published)}")
            jobs, seconds, totals, driver = [], [], [], []
            for i in range(repeats + 1):  # the first: warm-up, not counted
                run = Path(tmp) / f"{step}-{i}"
                shutil.copytree(published[source], run / "work")
                if step in SETUPS:
                    SETUPS[step](spark, run / "work", run)
                _sites.clear()
                _site_seconds.clear()
                _serial[0] += 1
                _other[0] = f"jobs37-other-{_serial[0]}"
                _groups[:] = [_other[0]]
                _driver.clear()
                sc.setJobGroup(_other[0], "other")
                c0 = _jvm_cpu()
                t0 = time.perf_counter()
                _driver["py4j_calls"] = 0
                STEPS[step](spark, run / "work", run)
                calls = _driver["py4j_calls"]
                cpu = _jvm_cpu() - c0
                if i:
                    seconds.append(round(time.perf_counter() - t0, 2))
                    jobs.append(sum(_sites.values()))
                    all_jobs, stages, skipped = _totals(sc)
                    totals.append({"jobs": all_jobs, "stages": stages, "stages_skipped": skipped})
                    driver.append({"py4j_calls": calls, "jvm_cpu_s": round(cpu, 3),
                                   "plan_s": round(_driver["plan_s"], 3),
                                   "plan_cpu_s": round(_driver["plan_cpu_s"], 3)})  # fmt: skip
            out[step] = {"jobs": jobs, "seconds": seconds, "all": totals, "driver": driver,
                         "sites": dict(sorted(_sites.items())),
                         "site_seconds": {k: round(v, 2) for k, v in sorted(_site_seconds.items())}}  # fmt: skip
    spark.stop()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trees", default="", help="name=path,... (each run in its own process)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", default="labels,append")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    steps = a.steps.split(",")
    if a.one or not a.trees:
        print(json.dumps(_one_tree(a.repeats, steps)))
        return
    trees = dict(t.split("=", 1) for t in a.trees.split(","))
    result: dict = {name: [] for name in trees}
    for _ in range(a.rounds):
        for name, path in trees.items():
            env = {**os.environ, "PYTHONPATH": str(Path(path).resolve())}
            cmd = [
                sys.executable,
                __file__,
                "--one",
                "--repeats",
                str(a.repeats),
                "--steps",
                a.steps,
            ]
            t0 = time.time()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["load_1m"] = round(os.getloadavg()[0], 2)
            row["wall_s"] = round(time.time() - t0, 1)
            result[name].append(row)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
