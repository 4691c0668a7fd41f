"""The peers of bench/ulb.py: XGBoost and scikit-learn's MLP on the same prepared arrays,
XGBoost chosen by the same fold score as ours (driver only, no Spark)."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from _ulb_select import ap


def _xgb(y_fit: np.ndarray, params: dict):
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=600,
        learning_rate=0.05,
        tree_method="hist",
        scale_pos_weight=float((y_fit == 0).sum() / max(1, (y_fit == 1).sum())),
        eval_metric="aucpr",
        early_stopping_rounds=50,
        n_jobs=2,
        random_state=0,
        **params,
    )


def run_xgboost(arrays, y, ranges, test, configs, tried):
    """Each configuration on every fold (as ours); "time_of_day": true adds the hours."""
    best = None
    for cfg in configs:
        params = {k: v for k, v in cfg.items() if k != "time_of_day"}
        t0, per_fold = time.perf_counter(), []
        for i, ((fit, val), (X, X_hours)) in enumerate(zip(ranges, arrays, strict=True)):
            if cfg.get("time_of_day"):
                if X_hours is None:
                    raise ValueError(f"XGBoost {cfg}: time_of_day with --time-of-day set")
                X = X_hours
            clf = _xgb(y[fit], params)
            clf.fit(X[fit], y[fit], eval_set=[(X[val], y[val])], verbose=False)
            per_fold.append(ap(y[val], clf.predict_proba(X[val])[:, 1]))
            if i == 0:
                rec = {
                    "model": "xgboost",
                    "config": {**cfg, "scale_pos_weight": round(clf.scale_pos_weight, 1)},
                    "test_ap": ap(y[test], clf.predict_proba(X[test])[:, 1]),
                    "best_iterations": [clf.best_iteration],
                }
        rec.update(val_ap=float(np.mean(per_fold)), fit_s=round(time.perf_counter() - t0, 1))
        if len(ranges) > 1:
            rec["val_ap_per_fold"] = [round(a, 4) for a in per_fold]
        tried.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
        if best is None or rec["val_ap"] > best["val_ap"]:
            best = rec
    return best


def run_sklearn_mlp(X, y, fit, val, test, tried):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), MLPClassifier((64, 32), max_iter=50, random_state=0))
    t0 = time.perf_counter()
    clf.fit(X[fit], y[fit])
    rec = {
        "model": "sklearn_mlp",
        "config": {"hidden": [64, 32], "max_iter": 50},
        "val_ap": ap(y[val], clf.predict_proba(X[val])[:, 1]),
        "test_ap": ap(y[test], clf.predict_proba(X[test])[:, 1]),
        "fit_s": round(time.perf_counter() - t0, 1),
    }
    tried.append(rec)
    print(json.dumps(rec), file=sys.stderr, flush=True)
    return rec
