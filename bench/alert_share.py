"""Probe: does the alert threshold `train` stores with a model raise the budget on new days?

`train` stores the ceil(b x rows)-th highest score of a window (fraud_app.scoring.reference.
alert_threshold, b = scoring.alert_budget); `score` alerts every row at or above it. This
scores every row of the feature table with the saved ensemble (NumPy, no Spark) and gives,
on the run's test window, the share of rows at or above each of these thresholds:

    stored          the one in the model's metadata.scoring
    validation      the quantile of the saved model's scores on the validation window
                    (what `train` stored before session 35; in-sample after a refit)
    test_gap        on the test gap [validation end, test start): rows no window trains on
                    (pooled: what `train` stored in session 35)
    median_day      the median over the gap's days of each day's ceil(b x rows)-th score
    trimmed_day     the mean of those per-day thresholds without the highest and lowest
    validation+gap  the pooled quantile of both windows

with per test day the share (min / median / max), alerts - ceil(b x rows of the day) and
|share / b - 1| (mean and worst over the test days), and each threshold's share on the gap.
Sessions 35 (helper thresh35) and 36 (helper thresh36), docs/PROBES.md.

    fraud-app init /tmp/p && (edit generate.n_transactions, generate.seed; tracking,
    registry, baselines off) && fraud-app -c /tmp/p/config.yaml generate / etl / features
    fraud-app -c /tmp/p/config.yaml train --run r
    .venv/bin/python bench/alert_share.py /tmp/p/work r > r.json

A fraud burst in the test gap (`--burst N --burst-raw DIR`): writes DIR, a copy of the
project's raw CSV (paths.raw = <root>/raw, the generator's layout) with N extra fraud rows,
half on the gap's third day and half on its fourth: each a copy of one of the generated
compromised_merchant fraud rows (card, merchant, amount, ...), a new txn_id, its ts moved to
a random second of the burst day and label_ts by the same delta; then stops. Run etl and
features on a project whose paths.raw is DIR, copy models/ and reports/ into its root and
measure it as above (the gap is not trained on: the saved model is the one a train on the
burst data gives).

    .venv/bin/python bench/alert_share.py /tmp/p/work r --burst 40 --burst-raw /tmp/b/work/raw

`--summary A.json B.json ...`: per threshold, the mean over the runs of the mean day error
|share / b - 1| and the worst day over all of them. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.reference import alert_threshold

BURST_SEED = 36
RAW_TS = "%Y-%m-%d %H:%M:%S"  # the generator's raw `ts` / `label_ts`


def _bound(text: str | None, default: np.datetime64) -> np.datetime64:
    if text is None:
        return default
    return np.datetime64(dt.datetime.fromisoformat(text).replace(tzinfo=None), "us")


def day_thresholds(scores: np.ndarray, days: np.ndarray, budget: float) -> np.ndarray:
    """Each day's ceil(b x rows of the day)-th highest score, days in order."""
    return np.array([alert_threshold(scores[days == d], budget) for d in np.unique(days)])


def median_day(scores, days, budget) -> float:
    return float(np.median(day_thresholds(scores, days, budget)))


def trimmed_day(scores, days, budget) -> float:
    per_day = np.sort(day_thresholds(scores, days, budget))
    return float(per_day[1:-1].mean() if per_day.size > 2 else per_day.mean())


def _figures(thr, scores, days, test, gap, budget) -> dict:
    shares, over = [], []
    for day in np.unique(days[test]):
        on = test & (days == day)
        alerts = int((scores[on] >= thr).sum())
        shares.append(alerts / on.sum())
        over.append(alerts - math.ceil(budget * on.sum()))
    share = float((scores[test] >= thr).mean())
    error = np.abs(np.asarray(shares) / budget - 1)
    return {
        "threshold": round(float(thr), 4),
        "test_share": round(share, 4),
        "test_share_over_budget": round(share / budget, 2),
        "gap_share": round(float((scores[gap] >= thr).mean()), 4),
        "day_share_min_median_max": [
            round(float(f(shares)), 4) for f in (np.min, np.median, np.max)
        ],
        "day_alerts_minus_budget": over,
        "day_error_mean": round(float(error.mean()), 3),
        "day_error_worst": round(float(error.max()), 3),
    }


def _windows(root: Path, run: str, ts: np.ndarray) -> dict:
    report = json.loads((root / "reports" / f"training-{run}.json").read_text())
    windows = report["splits"]["windows"]
    return {
        n: (_bound(w["start"], ts.min()), _bound(w["end"], ts.max())) for n, w in windows.items()
    }, report


def measure(root: Path, run: str) -> dict:
    ensemble = FraudEnsemble.load(root / "models" / run)
    scoring = ensemble.metadata["scoring"]
    budget = scoring["alert_budget"]
    table = ds.dataset(root / "features", format="parquet", partitioning="hive").to_table(
        columns=["features", "timestamp"]
    )
    vectors = table.column("features").combine_chunks().flatten()
    X = np.asarray(vectors.to_numpy(zero_copy_only=False), dtype=np.float32)
    X = X.reshape(table.num_rows, -1)
    ts = table.column("timestamp").to_numpy().astype("datetime64[us]")
    days = ts.astype("datetime64[D]")
    scores = ensemble.predict_proba(X)
    bounds, report = _windows(root, run, ts)

    def rows(start, end):
        return (ts >= start) & (ts < end)

    val, test = rows(*bounds["validation"]), rows(*bounds["test"])
    gap = rows(bounds["validation"][1], bounds["test"][0])
    thresholds = {
        "stored": scoring["threshold"],
        "validation": alert_threshold(scores[val], budget),
        "test_gap": alert_threshold(scores[gap], budget),
        "median_day": median_day(scores[gap], days[gap], budget),
        "trimmed_day": trimmed_day(scores[gap], days[gap], budget),
        "validation+gap": alert_threshold(scores[val | gap], budget),
    }
    return {
        "root": str(root), "run": run, "budget": budget, "refit": report.get("refit") is not None,
        "threshold_rows": scoring.get("threshold_rows"),
        "rows": {"validation": int(val.sum()), "test_gap": int(gap.sum()), "test": int(test.sum())},
        "gap_day_thresholds": [round(float(t), 4) for t in day_thresholds(scores[gap], days[gap], budget)],
        "thresholds": {n: _figures(t, scores, days, test, gap, budget) for n, t in thresholds.items()},
    }  # fmt: skip


def write_burst(root: Path, run: str, n: int, out: Path) -> dict:
    """`out`: the raw CSV of `root` with `n` compromised_merchant fraud rows copied onto
    the test gap's third and fourth days (module doc)."""
    parts = sorted((root / "raw").glob("part-*.csv"))
    raw = pd.concat(
        [pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts], ignore_index=True
    )
    ts = pd.to_datetime(raw["ts"], format=RAW_TS, errors="coerce")
    label_ts = pd.to_datetime(raw["label_ts"], format=RAW_TS, errors="coerce")
    ok = ((raw["is_fraud"] == "1") & (raw["scenario"] == "compromised_merchant")
          & ts.notna() & label_ts.notna()).to_numpy()  # fmt: skip
    pool = raw[ok]
    if not len(pool):
        raise SystemExit(
            f"--burst copies generated compromised_merchant fraud rows, and {root / 'raw'} "
            "holds none: generate with generate.pattern_weights.compromised_merchant > 0"
        )
    rng = np.random.default_rng(BURST_SEED)
    pick = rng.choice(len(pool), size=n, replace=len(pool) < n)
    rows = pool.iloc[pick].copy()
    bounds, _ = _windows(root, run, np.array([np.datetime64("2000-01-01")]))
    gap_start = pd.Timestamp(bounds["validation"][1])
    burst_days = [gap_start + pd.Timedelta(days=2), gap_start + pd.Timedelta(days=3)]
    day = np.repeat(burst_days, [n - n // 2, n // 2])
    new_ts = pd.DatetimeIndex(day) + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    delta = new_ts - pd.DatetimeIndex(ts[ok].iloc[pick])
    rows["ts"] = new_ts.strftime(RAW_TS)
    rows["label_ts"] = (pd.DatetimeIndex(label_ts[ok].iloc[pick]) + delta).strftime(RAW_TS)
    rows["txn_id"] = [f"B{BURST_SEED}{i:05d}" for i in range(n)]
    out.mkdir(parents=True, exist_ok=False)
    for p in parts:
        shutil.copyfile(p, out / p.name)
    rows.to_csv(out / "part-99999-burst.csv", index=False)
    return {"burst_rows": n, "days": [str(d.date()) for d in burst_days],
            "distinct_source_rows": int(np.unique(pick).size), "out": str(out)}  # fmt: skip


def summary(paths: list[Path]) -> dict:
    runs = [json.loads(p.read_text()) for p in paths]
    out = {}
    for name in runs[0]["thresholds"]:
        figs = [r["thresholds"][name] for r in runs]
        out[name] = {
            "day_error_mean": round(float(np.mean([f["day_error_mean"] for f in figs])), 3),
            "day_error_worst": max(f["day_error_worst"] for f in figs),
            "test_share_over_budget": [f["test_share_over_budget"] for f in figs],
        }
    return {"runs": [f"{r['root']}:{r['run']}" for r in runs], "thresholds": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", help="the project's paths.root")
    parser.add_argument(
        "run", nargs="?", help="the run (models/<run>, reports/training-<run>.json)"
    )
    parser.add_argument("--burst", type=int, help="write a raw copy with this many burst frauds")
    parser.add_argument("--burst-raw", type=Path, help="where --burst writes the raw copy")
    parser.add_argument("--summary", type=Path, nargs="+", help="summarise measure outputs")
    args = parser.parse_args()
    if args.summary:
        result = summary(args.summary)
    elif args.burst:
        if args.burst_raw is None:
            parser.error("--burst needs --burst-raw DIR (a new folder for the raw copy)")
        result = write_burst(args.root, args.run, args.burst, args.burst_raw)
    else:
        result = measure(args.root, args.run)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
