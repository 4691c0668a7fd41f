"""A backtest fold whose daily budget alerted more rows than it allows (rows tied at a day's
cut-off are all in, session 50) says so: the fold's figures carry `alerts_at_budget` and
`alert_quota`, and one WARNING names the model, both counts and the overshoot, since its
`recall_at_budget` then counts frauds among more alerts than the budget's. No Spark."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd

from fraud_app.evaluation.ranking import fold_metrics
from pipelines.backtest.report import warn_ties_over_budget


def _window() -> pd.DataFrame:
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    rng = np.random.default_rng(0)
    n = 200  # 2 days of 100 rows: the budget 0.05 allows 5 a day
    label = (rng.random(n) < 0.1).astype(int)
    return pd.DataFrame({
        "card_id": [f"c{i % 40}" for i in range(n)],
        "timestamp": [start + dt.timedelta(days=i // 100, minutes=i % 100) for i in range(n)],
        "label": label,
        "distinct": rng.permutation(n) / n + label,  # no ties
        "tied": np.where(np.arange(n) % 100 < 3, 0.9, 0.5),  # 3 rows above 97 tied a day
    })  # fmt: skip


def test_a_fold_whose_cut_off_is_tied_names_its_alerts_beyond_the_budget(caplog):
    df = _window()
    models = {name: fold_metrics(df, name, budget=0.05, k=3) for name in ("distinct", "tied")}
    assert (models["distinct"]["alerts_at_budget"], models["distinct"]["alert_quota"]) == (10, 10)
    assert (models["tied"]["alerts_at_budget"], models["tied"]["alert_quota"]) == (200, 10)
    assert models["tied"]["recall_at_budget"] == 1.0  # every row alerted: the tie is all in
    with caplog.at_level(logging.WARNING, logger="pipelines.backtest.report"):
        warn_ties_over_budget(2, models, 0.05)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "backtest fold 2: tied alerted 200 rows at the daily alert budget 0.05, which allows "
        "10 (each day's ceil(budget x rows)): 190 row(s) tied at a day's cut-off score are "
        "all in, so its recall_at_budget is that of 1900.0% more alerts than the budget's"
    ]
