"""A validation window past `fits_on_driver` keeps its scores on the executors (session 43):
`scored_validation` collected every row's label, score and date (20 bytes a row of task
results, ~2 GB for 10^8 rows) for two uses, the promotion gate's AP on the days the
champion did not train on and the validation fallback of the alert threshold. Both are now
computed where the rows are, and equal NumPy's on the collected scores (ties included: the
features take a few values, so many rows share a score). DRIVER_ROWS is set to 0 so a small
window takes that path. Real Spark; the bytes of task results the driver received, from
Spark's own status store."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.evaluation import spark_window
from fraud_app.models.provenance import TRAINED_THROUGH
from fraud_app.models.train import evaluate_scores
from fraud_app.scoring.reference import alert_threshold
from pipelines.training import gate, nodes, threshold, trained_dates
from pipelines.training.executor_scores import ExecutorScores, threshold_input
from pipelines.training.validation import scored_validation
from tests.fraud_app.tracking import helpers as h
from tests.pipelines.test_gap_threshold_driver import _result_bytes

pytestmark = pytest.mark.spark
ROWS = 40_000  # ~800 KB of label, score and date collected
BUDGET = 0.02
FIRST = dt.date(2024, 2, 1)


def _window(spark):
    """ROWS rows over 5 days; features of 13 x 7 values (91 distinct scores: ties)."""
    x0, x1 = F.col("id") % 13, (F.col("id") * 31) % 7
    fraud = ((F.col("id") * 2654435761) % 100) < x0 * 2
    return spark.range(0, ROWS, 1, 2).select(
        F.date_add(F.lit(FIRST), (F.col("id") % 5).cast("int")).alias("event_date"),
        fraud.cast("double").alias("label"),
        F.array(x0.cast("float"), x1.cast("float"), F.lit(0.0).cast("float"),
                F.lit(0.0).cast("float")).alias("features"),
    )  # fmt: skip


def _splits(df):
    end = dt.datetime(2024, 2, 6, tzinfo=dt.UTC)
    windows = (None, SimpleNamespace(start=end - dt.timedelta(days=5), end=end),
               SimpleNamespace(start=end))  # fmt: skip
    return SimpleNamespace(validation=df, windows=windows,
                           summary={"windows": {"validation": {"rows": ROWS}}})  # fmt: skip


def _champion(through: str):
    model = h.linear_ensemble(2.0)
    model.metadata[TRAINED_THROUGH] = through
    return model


def test_the_gate_and_the_threshold_read_a_large_window_where_it_is(spark, tmp_path, monkeypatch):
    config = load_config(None, {"paths.root": str(tmp_path)})
    df, new = _window(spark), h.linear_ensemble(0.3)
    splits = _splits(df)
    monkeypatch.setattr(spark_window, "DRIVER_ROWS", 0)
    before = _result_bytes(spark)
    # figures=False: as final_model asks after a refit (with figures, the same scores and
    # the window's C4 figures, computed on the executors since session 31)
    _none, scores = scored_validation(None, splits, new, "features", config, figures=False)
    unseen = trained_dates.unseen_days(_champion("2024-02-03T00:00:00+00:00"), scores)
    ap = gate._unseen_ap(scores, unseen)
    counts = trained_dates.unseen_counts(scores, unseen)
    no_gap = threshold.GapScores(spark.createDataFrame([], "fraud_score double"))
    alert_at, info = threshold.choose(no_gap, lambda: threshold_input(scores), splits, BUDGET,
                                      refit=False)  # fmt: skip
    received = _result_bytes(spark) - before
    # 4816bb97: 806 KB for the collect (20 bytes a row: grows with the window's rows);
    # now ~172 KB: the fixed cost of the jobs' task results (~7.5 KB a task), not rows
    assert received < 400_000, received

    collected = nodes.score_and_collect(df, new, "features")
    assert len(np.unique(collected["fraud_score"])) <= 91  # ties
    first, mask = trained_dates.unseen_days(_champion("2024-02-03T00:00:00+00:00"), collected)
    assert unseen == (first, None) and first == dt.date(2024, 2, 3)
    y, s = collected["label"], collected["fraud_score"]
    expected = evaluate_scores(y[mask], s[mask])["average_precision"]
    assert ap == pytest.approx(expected, rel=1e-13, abs=0)  # the order of a float sum
    assert ap == pytest.approx(gate._unseen_ap(collected, (first, mask)), rel=1e-13, abs=0)
    assert counts == (int(mask.sum()), int(np.sum(y[mask] == 1)))
    assert alert_at == alert_threshold(s, BUDGET)
    assert (info["window"], info["rows"]) == ("validation", ROWS)


def test_a_champion_trained_on_every_day_is_named_from_counts_on_the_executors(spark):
    scores = ExecutorScores(_window(spark), h.linear_ensemble(0.3), "features")
    champion = _champion("2024-02-06T00:00:00+00:00")
    unseen = trained_dates.unseen_days(champion, scores)
    assert unseen == (dt.date(2024, 2, 6), None)
    assert gate._unseen_ap(scores, unseen) is None
    reason = gate._no_fair_comparison("1", champion, unseen, {"end": "2024-02-06"}, scores)
    assert "no day of the window is left that it did not train on" in reason
    assert trained_dates.unseen_days(_champion("2024-02-01T00:00:00+00:00"), scores) is None


@pytest.mark.integration
@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_the_gate_compares_on_unseen_days_with_scores_left_on_the_executors(
    spark, tmp_path, monkeypatch
):
    """test_gate_unseen's first case, the new model's scores an ExecutorScores and the
    champion scored by Spark (no collected rows): the same comparison, on real MLflow."""
    from fraud_app.tracking.runs import start_training_run
    from pipelines.training import lifecycle
    from tests.fraud_app.tracking.test_gate_unseen import _champion as dated
    from tests.fraud_app.tracking.test_gate_unseen import _window_rows

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    X, y, day = _window_rows()
    champion = dated("2024-02-04T00:00:00+00:00")  # trained on 02-01 .. 02-03
    h.gate_on_rows(cfg, tmp_path, champion, "champ", (X, y))
    frame = spark.createDataFrame(
        [(X[i].tolist(), float(y[i]), day[i].item()) for i in range(len(y))],
        "features array<float>, label double, event_date date",
    )
    new = h.linear_ensemble(-2.0)
    full_ap = evaluate_scores(y, new.predict_proba(X))["average_precision"]
    with start_training_run(cfg, "new") as tracker:
        ctx = gate.GateContext(cfg, h.NAMES, h.splits(frame), full_ap, "features",
                               scores=ExecutorScores(frame, new, "features"))  # fmt: skip
        model_dir = new.save(tmp_path / "models" / "new")
        out = lifecycle.register_and_gate(
            tracker, lifecycle.start_model_logging(tracker, model_dir, ctx)
        )
    late = day >= np.datetime64("2024-02-04")
    assert out["decision"] == "champion", out  # as with the collected scores
    assert out["window"]["start"] == "2024-02-04"
    assert out["new_ap"] == pytest.approx(
        evaluate_scores(y[late], new.predict_proba(X[late]))["average_precision"]
    )
    assert out["champion_ap"] == pytest.approx(
        evaluate_scores(y[late], champion.predict_proba(X[late]))["average_precision"]
    )


def test_rows_without_a_date_count_before_the_unseen_days_as_in_the_collected_mask(
    spark, monkeypatch
):
    """The collected mask counts a row whose event_date is null as not unseen (NaT >= day is
    False), so the gate compares on the dated unseen days; the executors' count left such
    rows out of both sides, and a window whose earlier days had no date read as "trained
    on none of it": the gate compared on every row (session 43 review)."""
    monkeypatch.setattr(spark_window, "DRIVER_ROWS", 0)
    day = F.col("event_date")
    undated = F.when(day < F.lit(dt.date(2024, 2, 3)), None).otherwise(day)  # 02-01, 02-02
    df = _window(spark).limit(2_000).withColumn("event_date", undated)
    new, champion = h.linear_ensemble(0.3), _champion("2024-02-03T00:00:00+00:00")
    collected = nodes.score_and_collect(df, new, "features")
    first, mask = trained_dates.unseen_days(champion, collected)
    scores = ExecutorScores(df, new, "features")
    unseen = trained_dates.unseen_days(champion, scores)
    assert unseen == (first, None)  # 4cef8e2d: None
    assert trained_dates.unseen_counts(scores, unseen) == trained_dates.unseen_counts(
        collected, (first, mask)
    )
    assert gate._unseen_ap(scores, unseen) == pytest.approx(
        gate._unseen_ap(collected, (first, mask)), rel=1e-13, abs=0
    )
