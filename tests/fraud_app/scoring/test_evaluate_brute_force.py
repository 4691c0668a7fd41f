"""`evaluate` against a brute force in pandas on a window of edge cases (session 35 probe,
docs/PROBES.md; checked, no defect): tied scores across the daily cut-offs, a day with
fewer cards than k, a card with two frauds on one day, a card caught on day 1 fraudulent
again on day 3, a day without frauds. A one-feature model scores sigmoid(a), so the test
chooses every score. Real Spark, a small feature table written here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlcore.layers import Linear, Sequential
from dlcore.model import Model
from fraud_app.config import load_config
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.evaluate import run_evaluation

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]
NAMES = ["card_seconds_since_prev", "amount_log1p"]
D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)
# (card, day, label, pattern, a): the score is sigmoid(a)
ROWS = [
    ("c1", D1, 1, "p1", 3.0), ("c1", D1, 1, "p1", 1.0), ("c2", D1, 1, "p2", 1.0),
    ("c3", D1, 0, None, 1.0), ("c4", D1, 0, None, 3.0), ("c5", D1, 0, None, 0.0),
    ("c6", D1, 0, None, 0.0), ("c7", D1, 0, None, -1.0), ("c8", D1, 0, None, 1.0),
    ("c2", D2, 0, None, 2.0), ("c9", D2, 0, None, 2.0), ("c9", D2, 0, None, 0.5),
    ("c1", D3, 1, "p1", 4.0), ("c3", D3, 1, "p2", 2.0), ("c5", D3, 0, None, 2.0),
    ("c6", D3, 0, None, 2.0), ("c7", D3, 1, "p1", 0.0), ("c8", D3, 0, None, -2.0),
]  # fmt: skip
BUDGETS, K, THRESHOLD = (0.2, 0.5), 3, 1 / (1 + math.exp(-1.0))


def _write(spark, tmp_path):
    config = load_config(None, {
        "paths.root": str(tmp_path), "tracking.enabled": False,
        "features.spec_dir": str(ROOT / "feature_specs"), "scoring.alert_budgets": list(BUDGETS),
        "scoring.card_k": K, "scoring.alert_budget": 0.5,
    })  # fmt: skip
    defs = definitions(feature_set_from_config(config.features), NAMES)
    model = Model(Sequential([Linear(1)]), in_features=2, seed=0, dtype="float64")
    model.params.set_data(np.array([0.0, 1.0, 0.0]))  # W (2, 1) then b: logit = a
    meta = {"features": {"definitions": defs}, "scoring": {"threshold": THRESHOLD}}
    FraudEnsemble([model], NAMES, meta).save(tmp_path / "m")
    rows = [(c, d, float(y), p, 0.0, a) for c, d, y, p, a in ROWS]
    schema = "card_id string, event_date date, label double, fraud_pattern string, " + ", ".join(
        f"{n} double" for n in NAMES
    )
    table = tmp_path / "features"
    spark.createDataFrame(rows, schema).coalesce(1).write.parquet(str(table))
    entries = [{"name": n, "fill": 0.0, **defs[n]} for n in NAMES]
    meta = {"feature_names": NAMES, "label_delay_days": 7.0, "features": entries}
    (table / "_features.json").write_text(json.dumps(meta))
    return config


def _brute_force(frame: pd.DataFrame) -> dict:
    """Every figure by its README definition, row by row."""
    f = frame
    out = {"budgets": []}
    for b in BUDGETS:
        alerted = []
        for _, day in f.groupby("day"):
            k = min(len(day), max(1, math.ceil(round(b * len(day), 9))))
            cutoff = day.s.sort_values(ascending=False).iloc[k - 1]
            alerted.append(day[day.s >= cutoff])  # ties at the cut-off all in (session 50)
        a = pd.concat(alerted)
        out["budgets"].append({"alerts": len(a), "precision": a.y.mean(),
                               "recall": a.y.sum() / f.y.sum(), "threshold": a.s.min()})  # fmt: skip
        if b == 0.5:
            out["patterns"] = {
                p: ((a.y == 1) & (a.p == p)).sum() / ((f.y == 1) & (f.p == p)).sum()
                for p in sorted(f.loc[f.y == 1, "p"].unique())
            }
    caught, per_day = set(), []
    for day, rows in f.groupby("day"):
        cards = rows.groupby("card").agg(s=("s", "max"), y=("y", "max")).reset_index()
        cards = cards[~cards.card.isin(caught)].sort_values(["s", "card"], ascending=[False, True])
        hits = cards.head(K).query("y == 1").card
        caught |= set(hits)
        per_day.append({"date": str(day), "precision": len(hits) / K, "cards": len(cards)})
    out["cards"] = per_day
    alerts = (f.s >= THRESHOLD).groupby(f.day).sum()
    out["model_threshold"] = {"alerts": int(alerts.sum()), "min": int(alerts.min()),
                              "max": int(alerts.max()),
                              "recall": f.y[f.s >= THRESHOLD].sum() / f.y.sum()}  # fmt: skip
    return out


def test_evaluate_equals_a_brute_force_on_ties_small_days_and_repeat_frauds(spark, tmp_path):
    config = _write(spark, tmp_path)
    report, _ = run_evaluation(spark, config, model_uri=str(tmp_path / "m"), start=D1, end=D3)
    frame = pd.DataFrame(ROWS, columns=["card", "day", "y", "p", "a"])
    frame["s"] = 1 / (1 + np.exp(-frame["a"]))
    ref = _brute_force(frame)
    for got, want in zip(report["alert_budgets"], ref["budgets"], strict=True):
        assert got["alerts"] == want["alerts"]
        for key in ("precision", "recall", "threshold"):
            assert math.isclose(got[key], want[key], rel_tol=1e-12), (got["budget"], key)
    assert report["card_precision_at_k"]["per_day"] == ref["cards"]
    # day 1: c1 / c4 tied at sigmoid(3), then c2 / c3 / c8 tied at sigmoid(1): c1, c4, c2
    # reviewed (the lower ids), c1 and c2 caught; day 2: c2 left out, 1 card (< k); day 3:
    # c1 (fraudulent again) left out, 5 cards
    assert [d["cards"] for d in ref["cards"]] == [8, 1, 5]
    assert [d["precision"] for d in ref["cards"]] == [2 / K, 0.0, 1 / K]  # c7 (0.0) not reviewed
    assert report["pattern_recall"] == pytest.approx(ref["patterns"], rel=1e-12)
    mt = report["model_threshold"]
    assert (mt["alerts"], mt["alerts_per_day_min"], mt["alerts_per_day_max"]) == (
        ref["model_threshold"]["alerts"], ref["model_threshold"]["min"],
        ref["model_threshold"]["max"])  # fmt: skip
    assert math.isclose(mt["recall"], ref["model_threshold"]["recall"], rel_tol=1e-12)
