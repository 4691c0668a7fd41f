"""Benchmark: a deployment that lives for months, the scheduled daily cycle run many times.

A generated history (`fraud-app init`'s starter config, `generate` with `--rows-per-day`
rows a day; NOT timed) is published by one replace-mode `etl` of its first `--history`
days and one `features` + `train`; then each following day, as a scheduler would:

    etl --mode append      that day's delivery (labels known by the day's end; the others
                           blank), plus `--redelivered` rows of yesterday again (duplicates)
    labels FEED            the labels that became known that day, for earlier days' rows
    features, score --date every `--heavy-every` days (1: every day); `features` is
                           incremental (the dates from the first changed one); with
                           `--full-too` a full rebuild of the same table into
                           <root>/features-full follows it, timed as `features_full`
    train + promote        every `--train-every` days (0: only the first)

through the step API in one process (one Spark session, as the CLI's steps would each
start one). After every day it records each step's wall time and what is kept on disk:
data files and all files per table, the most files of one date partition, bytes, the
quarantine's files, the label ledger's files, reports, the MLflow store and its artifacts,
the model cache. The question is what grows with the number of days run rather than with
the day's rows.

    .venv/bin/python bench/daily_cycle.py --days 60 --rows-per-day 300 --out /tmp/cycle

The last line printed is one JSON object: per step the seconds of the first and last
`--window` days, and the kept-records counts at the end and their growth per day.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
COLS = {"id": "txn_id", "ts": "ts", "label": "is_fraud", "label_time": "label_ts"}


def _config(proj: Path, overrides: dict):
    from fraud_app.config import load_config

    return load_config(proj / "config.yaml", overrides)


def _base_overrides(args, total_days: int) -> dict:
    return {
        "spark.master": "local[2]",
        "generate.n_transactions": total_days * args.rows_per_day,
        "generate.n_cards": max(200, total_days * args.rows_per_day // 20),
        "generate.n_merchants": 200,
        "generate.days": total_days,
        "generate.fraud_rate": 0.01,
        "generate.dirty_fraction": 0.002,
        "generate.partitions": 1,
        "generate.settlement_delay_days": 2,
        "validation.canonical.reference_time": None,
        "training.model.hidden": [16, 8],
        "training.distributed.epochs": 4,
        "training.refit.enabled": False,
        "balancing.unionpay_subsets.n_subsets": 2,
        "baselines.enabled": False,
        "tracking.enabled": args.tracking,
        "registry.enabled": args.tracking,
    }


def _walk(path: Path) -> dict:
    """Files, data files (parquet), bytes and the most data files of one date partition
    (what `etl --mode append` reads for its duplicate check: every date's files)."""
    files = data = size = 0
    per_dir: dict[str, int] = {}
    if path.exists():
        for root, _dirs, names in os.walk(path):
            for n in names:
                files += 1
                size += os.path.getsize(os.path.join(root, n))
                if n.endswith(".parquet") and not n.startswith("."):
                    data += 1
                    if os.path.basename(root).startswith("event_date="):
                        per_dir[root] = per_dir.get(root, 0) + 1
    return {"files": files, "data_files": data, "bytes": size,
            "max_per_date": max(per_dir.values(), default=0)}  # fmt: skip


def kept(root: Path) -> dict:
    out = {name: _walk(root / name) for name in
           ("canonical", "quarantine", "features", "scores", "reports", "models",
            "model-cache", "mlruns", "test-scores", "checkpoints")}  # fmt: skip
    out["labels_ledger"] = _walk(root / "canonical" / "_labels_ledger")
    out["mlflow_db_bytes"] = (
        (root / "mlflow.db").stat().st_size if (root / "mlflow.db").exists() else 0
    )
    out["root"] = _walk(root)
    out["canonical_records_bytes"] = sum(
        p.stat().st_size for p in (root / "canonical").glob("_*.json")
    )
    return out


def split_days(raw: Path, work: Path, history: int) -> tuple[Path, list[tuple[Path, Path | None]]]:
    """The history delivery, then per day (delivery, labels feed)."""
    parts = sorted(glob.glob(str(raw / "**" / "*.csv"), recursive=True))
    df = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts])
    ts = pd.to_datetime(df[COLS["ts"]], errors="coerce")
    lt = pd.to_datetime(df[COLS["label_time"]], errors="coerce")
    day = ts.dt.normalize()
    first = day.min()
    days = sorted(d for d in day.dropna().unique())
    hist_end = first + pd.Timedelta(days=history)
    out = []
    hist = df[(day < hist_end) | day.isna()].copy()
    unknown = (lt >= hist_end).reindex(hist.index, fill_value=False)
    hist.loc[unknown, [COLS["label"], COLS["label_time"]]] = ""
    hdir = work / "deliveries" / "history"
    hdir.mkdir(parents=True)
    hist.to_csv(hdir / "part.csv", index=False)
    prev = None
    for d in days:
        if d < hist_end:
            continue
        end = d + pd.Timedelta(days=1)
        rows = df[day == d].copy()
        rows.loc[(lt[day == d] >= end), [COLS["label"], COLS["label_time"]]] = ""
        if prev is not None:
            rows = pd.concat([rows, prev.head(5)])  # re-delivered: duplicates
        ddir = work / "deliveries" / f"{d:%Y-%m-%d}"
        ddir.mkdir(parents=True)
        rows.to_csv(ddir / "part.csv", index=False)
        feed = df[(lt >= d) & (lt < end) & (day < d)][
            [COLS["id"], COLS["label"], COLS["label_time"]]
        ]
        fpath = None
        if len(feed):
            fpath = work / "feeds" / f"{d:%Y-%m-%d}.csv"
            fpath.parent.mkdir(parents=True, exist_ok=True)
            feed.to_csv(fpath, index=False)
        out.append((ddir, fpath))
        prev = df[day == d]
    return hdir, out


def _timed(times: dict, name: str, fn, *args, **kwargs):
    t0 = time.monotonic()
    result = fn(*args, **kwargs)
    times[name] = round(time.monotonic() - t0, 2)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=60, help="daily cycles run")
    p.add_argument("--history", type=int, default=30, help="days published before the cycle")
    p.add_argument("--rows-per-day", type=int, default=300)
    p.add_argument("--heavy-every", type=int, default=1, help="features + score every N days")
    p.add_argument("--train-every", type=int, default=0, help="train + promote every N days")
    p.add_argument("--tracking", action="store_true", help="MLflow on sqlite + registry")
    p.add_argument("--compact-files", type=int, help="etl.compact_files (default: the config's)")
    p.add_argument(
        "--full-too",
        action="store_true",
        help="also time a full feature rebuild each heavy day (features_full)",
    )
    p.add_argument("--skip-score", action="store_true", help="no train or score step")
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--out", type=Path, default=Path("/tmp/daily-cycle"))
    args = p.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    proj = args.out / "proj"
    subprocess.run([sys.executable, "-m", "pipelines", "init", str(proj)], check=True,
                   capture_output=True, cwd=REPO)  # fmt: skip
    total = args.history + args.days
    base = _base_overrides(args, total)
    if args.compact_files:
        base["etl.compact_files"] = args.compact_files

    from fraud_app.data.generator import generate_raw, write_raw
    from fraud_app.etl.labels import run_labels
    from fraud_app.etl.pipeline import run_etl
    from fraud_app.features.pipeline import build_feature_table
    from fraud_app.scoring.job import run_scoring
    from fraud_app.spark.session import spark_session
    from pipelines.training.pipeline import run_training

    config = _config(proj, base)
    spark = spark_session(config)
    raw = args.out / "raw"
    write_raw(generate_raw(spark, config.generate), str(raw), "csv")
    hist, daily = split_days(raw, args.out, args.history)
    root = Path(config.paths.root)

    def cfg(**extra):
        return _config(proj, {**base, **extra})

    run_etl(spark, cfg(**{"etl.input": str(hist), "etl.mode": "replace"}))
    build_feature_table(spark, config)
    if not args.skip_score:
        _timed({}, "train", run_training, spark, config, run="day-000")
    model = None if args.tracking else str(root / "models" / "day-000")
    rows = []
    for i, (delivery, feed) in enumerate(daily[: args.days], start=1):
        t: dict = {}
        appended = cfg(**{"etl.input": str(delivery), "etl.mode": "append"})
        _timed(t, "etl", run_etl, spark, appended)
        if feed is not None:
            _timed(t, "labels", run_labels, spark, config, [str(feed)])
        if i % args.heavy_every == 0:
            summary = _timed(t, "features", build_feature_table, spark, config)
            t["features_mode"] = summary.extra["build"]["mode"]
            t["features_from"] = summary.extra["build"].get("from")
            # dates before `from` rewritten with their new labels only (label_changes)
            t["features_labels_only"] = len(summary.extra["build"].get("labels_only", []))
            if args.full_too:
                full = cfg(**{"features.output": str(root / "features-full"),
                              "features.incremental": False})  # fmt: skip
                _timed(t, "features_full", build_feature_table, spark, full)
            date = delivery.name
            if not args.skip_score:
                _timed(t, "score", run_scoring, spark, config, start=date, end=date,
                       model_uri=model)  # fmt: skip
        if args.train_every and i % args.train_every == 0:
            _timed(t, "train", run_training, spark, config, run=f"day-{i:03d}")
            if not args.tracking:
                model = str(root / "models" / f"day-{i:03d}")
        row = {"day": i, "seconds": t, "kept": kept(root)}
        rows.append(row)
        print(json.dumps({"day": i, "seconds": t,
                          "canonical_files": row["kept"]["canonical"]["files"],
                          "quarantine_files": row["kept"]["quarantine"]["data_files"],
                          "ledger_files": row["kept"]["labels_ledger"]["data_files"],
                          # what the append's duplicate check reads: every date's files
                          "dedup_reads": row["kept"]["canonical"]["data_files"]
                          - row["kept"]["labels_ledger"]["data_files"],
                          "root_files": row["kept"]["root"]["files"]}), flush=True)  # fmt: skip
    (args.out / "days.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    w = args.window

    steps = ("etl", "labels", "features", "features_full", "score")

    def med(step, part):
        vals = [r["seconds"][step] for r in part if step in r["seconds"]]
        return round(statistics.median(vals), 2) if vals else None

    last, first = rows[-1]["kept"], rows[0]["kept"]
    n = max(1, len(rows) - 1)
    figures = {
        "days": len(rows), "rows_per_day": args.rows_per_day, "history_days": args.history,
        "seconds_first": {s: med(s, rows[:w]) for s in steps},
        "seconds_last": {s: med(s, rows[-w:]) for s in steps},
        "end": {k: v for k, v in last.items()},
        "per_day": {k: round((last[k]["files"] - first[k]["files"]) / n, 2)
                    for k in last if isinstance(last[k], dict)},
        "load": os.getloadavg()[0],
    }  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
