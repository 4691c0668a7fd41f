"""The alert threshold `train` stores with the model (C2) comes from the test gap (session 35,
helper thresh35): the newest rows before the cut-off, unlabelled ones too, which no window
trains on; never the test window; the validation window only when the gap is too small,
and `metadata.scoring.threshold_rows` says which. It was the validation window's (trained
on after the default refit, older, and labelled): on generated data with a fraud burst
there (more frauds than the 1 % budget) the test days raised 0.10 x the budget, with the
gap's threshold 0.88 x (docs/PROBES.md, "Session 35 probes (helper thresh35)")"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dlcore.layers import Linear, Sequential, Standardize
from dlcore.model import Model
from fraud_app.config import load_config
from fraud_app.features.config import SplitsSection
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.reference import alert_threshold
from pipelines.training import nodes
from pipelines.training.final_model import save_final
from pipelines.training.run_context import Ensembles, Laps, RunContext

pytestmark = pytest.mark.spark

START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
PER_DAY = 100
BUDGET = 0.02  # 14 alerts in a gap of 700 rows (threshold.MIN_GAP_ALERTS: 10)
DAYS = 30  # test: the last 5 days, gap 7 before it, validation 5 before that


def _rows(test_gap_days: float):
    """(rows, the day each row falls on): feature 0 grows with the day, so every window
    has scores of its own (a model scoring f0 higher ranks later days higher); a tenth of
    the gap's rows are unlabelled (label null: labels not known at the cut-off)."""
    rng = np.random.default_rng(0)
    rows, day_of = [], []
    for day in range(DAYS):
        for i in range(PER_DAY):
            ts = START + dt.timedelta(days=day, seconds=int(i * 86400 / PER_DAY))
            x = [float(day + rng.normal()), float(rng.normal())]
            y = 1.0 if rng.random() < 0.05 else 0.0
            in_gap = DAYS - 5 - test_gap_days <= day < DAYS - 5
            label = None if in_gap and i % 10 == 0 else y
            rows.append((f"t{day:02d}-{i:03d}", ts, label, x, ts.date().isoformat()))
            day_of.append(day)
    return rows, np.asarray(day_of)


def _ensemble() -> FraudEnsemble:
    members = []
    for seed in (0, 1):
        m = Model(Sequential([Standardize(name="standardize"), Linear(1)]), in_features=2,
                  seed=seed)  # fmt: skip
        m.layer.layers[0].set_statistics(np.array([15.0, 0.0]), np.array([9.0, 1.0]))
        m.layer.layers[1].W[...] = np.array([[1.0], [0.1]], dtype=m.layer.layers[1].W.dtype)
        members.append(m)
    return FraudEnsemble(members, ["f0", "f1"], {})


def _save(spark, tmp_path, test_gap_days: float, refit: bool):
    rows, day_of = _rows(test_gap_days)
    schema = ("transaction_id string, timestamp timestamp, label double, "
              "features array<float>, event_date string")  # fmt: skip
    table = spark.createDataFrame(rows, schema)
    config = load_config(None, {"paths.root": str(tmp_path), "scoring.alert_budget": BUDGET})
    path = str(config.feature_table())
    table.write.partitionBy("event_date").parquet(path)
    meta = {"feature_names": ["f0", "f1"], "vector_column": "features"}
    (Path(path) / "_features.json").write_text(json.dumps(meta))
    labelled = table.where(table.label.isNotNull())
    cfg = SplitsSection(test_days=5, validation_days=5, test_gap_days=test_gap_days)
    splits = nodes.split(labelled, cfg, label_delay_days=7)
    ensemble = _ensemble()
    ctx = RunContext(config, "r", None, ["f0", "f1"], "features", splits, Laps(), 0.0)
    final = SimpleNamespace(ensemble=ensemble)
    trained = Ensembles(final, {}, None, None, refit=final if refit else None)
    val_scores = nodes.score_and_collect(splits.validation, ensemble, "features")
    saved = FraudEnsemble.load(save_final(ctx, trained, val_scores))
    X = np.asarray([r[3] for r in rows], dtype=np.float32)
    return saved.metadata["scoring"], ensemble.predict_proba(X), day_of


def test_the_threshold_comes_from_the_test_gap_not_the_rows_the_refit_trained_on(spark, tmp_path):
    scoring, scores, day_of = _save(spark, tmp_path, test_gap_days=7, refit=True)
    gap = (day_of >= DAYS - 12) & (day_of < DAYS - 5)  # every row, the unlabelled too
    assert scoring["threshold"] == alert_threshold(scores[gap], BUDGET)
    validation = (day_of >= DAYS - 17) & (day_of < DAYS - 12)
    assert scoring["threshold"] != alert_threshold(scores[validation], BUDGET)  # the old rows
    assert scoring["threshold_rows"] == {
        "window": "test_gap", "start": "2025-03-19T00:00:00+00:00",
        "end": "2025-03-26T00:00:00+00:00", "rows": 7 * PER_DAY, "trained_on": False,
        "estimator": "pooled",  # the quantile of all the gap's rows (session 36 kept it)
    }  # fmt: skip
    test = day_of >= DAYS - 5  # never the test window: it is for evaluation
    assert scoring["threshold"] != alert_threshold(scores[gap | test], BUDGET)


def test_a_gap_too_small_leaves_the_threshold_on_validation_and_says_so(spark, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="pipelines.training.threshold"):
        scoring, scores, day_of = _save(spark, tmp_path, test_gap_days=0, refit=True)
    validation = (day_of >= DAYS - 10) & (day_of < DAYS - 5)
    assert scoring["threshold"] == alert_threshold(scores[validation], BUDGET)
    rows = scoring["threshold_rows"]
    assert rows["window"] == "validation" and rows["trained_on"] is True
    assert rows["estimator"] == "pooled"
    assert rows["rows"] == 5 * PER_DAY and math.isclose(scoring["alert_budget"], BUDGET)
    assert any("splits.test_gap_days" in r.getMessage() for r in caplog.records)
