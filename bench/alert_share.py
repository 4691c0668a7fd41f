"""Probe: does the alert threshold `train` stores with a model raise the budget on new days?

`train` stores the ceil(b x rows)-th highest score of a window (fraud_app.scoring.reference.
alert_threshold, b = scoring.alert_budget); `score` alerts every row at or above it. This
scores every row of the feature table with the saved ensemble (NumPy, no Spark) and gives,
on the run's test window, the share of rows at or above each of these thresholds:

    stored          the one in the model's metadata.scoring
    validation      the quantile of the saved model's scores on the validation window
                    (what `train` stored before session 35; in-sample after a refit)
    test_gap        on the test gap [validation end, test start): rows no window trains on
    validation+gap  on both

with per test day the share (min / median / max) and alerts - ceil(b x rows of the day),
and each threshold's share on the gap. Session 35 (helper thresh35), docs/PROBES.md.

    fraud-app init /tmp/p && (edit generate.n_transactions, generate.seed; tracking,
    registry, baselines off) && fraud-app -c /tmp/p/config.yaml generate / etl / features
    fraud-app -c /tmp/p/config.yaml train --run r
    .venv/bin/python bench/alert_share.py /tmp/p/work r

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds

from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.reference import alert_threshold


def _bound(text: str | None, default: np.datetime64) -> np.datetime64:
    if text is None:
        return default
    return np.datetime64(dt.datetime.fromisoformat(text).replace(tzinfo=None), "us")


def _figures(thr, scores, days, test, gap, budget) -> dict:
    shares, over = [], []
    for day in np.unique(days[test]):
        on = test & (days == day)
        alerts = int((scores[on] >= thr).sum())
        shares.append(alerts / on.sum())
        over.append(alerts - math.ceil(budget * on.sum()))
    share = float((scores[test] >= thr).mean())
    return {
        "threshold": round(float(thr), 4),
        "test_share": round(share, 4),
        "test_share_over_budget": round(share / budget, 2),
        "gap_share": round(float((scores[gap] >= thr).mean()), 4),
        "day_share_min_median_max": [
            round(float(f(shares)), 4) for f in (np.min, np.median, np.max)
        ],
        "day_alerts_minus_budget": over,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the project's paths.root")
    parser.add_argument("run", help="the training run (models/<run>, reports/training-<run>.json)")
    args = parser.parse_args()
    ensemble = FraudEnsemble.load(args.root / "models" / args.run)
    scoring = ensemble.metadata["scoring"]
    budget = scoring["alert_budget"]
    report = json.loads((args.root / "reports" / f"training-{args.run}.json").read_text())
    table = ds.dataset(args.root / "features", format="parquet", partitioning="hive").to_table(
        columns=["features", "timestamp"]
    )
    vectors = table.column("features").combine_chunks().flatten()
    X = np.asarray(vectors.to_numpy(zero_copy_only=False), dtype=np.float32)
    X = X.reshape(table.num_rows, -1)
    ts = table.column("timestamp").to_numpy().astype("datetime64[us]")
    days = ts.astype("datetime64[D]")
    scores = ensemble.predict_proba(X)
    windows = report["splits"]["windows"]
    bounds = {
        n: (_bound(w["start"], ts.min()), _bound(w["end"], ts.max())) for n, w in windows.items()
    }

    def rows(start, end):
        return (ts >= start) & (ts < end)

    val, test = rows(*bounds["validation"]), rows(*bounds["test"])
    gap = rows(bounds["validation"][1], bounds["test"][0])
    thresholds = {
        "stored": scoring["threshold"],
        "validation": alert_threshold(scores[val], budget),
        "test_gap": alert_threshold(scores[gap], budget),
        "validation+gap": alert_threshold(scores[val | gap], budget),
    }
    print(json.dumps({
        "run": args.run, "budget": budget, "refit": report.get("refit") is not None,
        "threshold_rows": scoring.get("threshold_rows"),
        "rows": {"validation": int(val.sum()), "test_gap": int(gap.sum()), "test": int(test.sum())},
        "thresholds": {n: _figures(t, scores, days, test, gap, budget) for n, t in thresholds.items()},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
