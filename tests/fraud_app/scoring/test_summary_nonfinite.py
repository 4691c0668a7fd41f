"""The scoring summary's per-feature figures under `scoring.nonfinite: null` (session 27
probe): rows holding NaN or inf in a feature are scored null and kept, and the summary's
mean divided the nansum by every row (NaN read as 0: 20 rows of 10.0 and 20 NaN gave a
mean of 5.0; an inf made it inf) and Spark's percentile_approx took NaN for a value (that
date's q05 was NaN, written null). Now the mean and the quantiles read the finite values,
as the histogram counts did, and `nonfinite` counts the rest. Real Spark, the job's own
scorer and summary."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pytest

from fraud_app.scoring.batch import ScoringOptions, score_dataframe
from fraud_app.scoring.job_record import warn_null_scores
from fraud_app.scoring.summary import date_summaries, out_of_range
from fraud_app.tracking.jobs import scoring_metrics
from tests.fraud_app.scoring.test_batch_spark import NAMES, _ensemble

pytestmark = pytest.mark.spark


def test_nonfinite_values_are_left_out_of_the_feature_figures(spark):
    day, other = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
    nan, inf = float("nan"), float("inf")
    rows = []
    for i in range(40):  # day: amount 10.0 on 20 rows, NaN on 16, inf on 4
        amount = 10.0 if i < 20 else (nan if i < 36 else inf)
        rows.append((day, [amount, float(i % 24), 1.0, 0.0]))
    rows += [(other, [2.0, 3.0, 1.0, 0.0])] * 5  # a date without NaN: unchanged figures
    df = spark.createDataFrame(rows, "event_date date, features array<float>").repartition(3)
    scored = score_dataframe(
        df, _ensemble(), options=ScoringOptions(nonfinite="null", threshold=0.5)
    )
    reference = {"feature_edges": [[0.0, 5.0]] * 4, "score_edges": [0.5]}
    first, second = date_summaries(scored, NAMES, reference)

    amount = first["features"]["amount_log1p"]
    assert first["rows"] == 40  # every row is still counted as a row of the date
    assert amount["mean"] == 10.0  # was inf (the inf rows; NaN alone: nansum / 40 rows)
    assert amount["nonfinite"] == 20
    assert (amount["q05"], amount["q50"], amount["q95"]) == (10.0, 10.0, 10.0)  # NaN: not a value
    assert amount["counts"] == [0, 0, 20]  # the histogram read the finite values already
    hour = first["features"]["hour_of_day"]
    assert hour["mean"] == pytest.approx(np.mean([i % 24 for i in range(40)]))
    assert hour["nonfinite"] == 0
    assert first["mean_score"] is not None and first["alerts"] <= 20
    # session 54: the rows scored null were counted nowhere per row (only per feature)
    assert (first["null_scores"], second["null_scores"]) == (20, 0)
    assert second["features"]["amount_log1p"] == {
        "mean": 2.0, "nonfinite": 0, "q05": 2.0, "q50": 2.0, "q95": 2.0, "counts": [0, 5, 0],
        "below_range": 0, "above_range": 0,
    }  # fmt: skip


def test_a_feature_without_any_finite_value_has_no_mean(spark):
    rows = [(dt.date(2024, 3, 1), [float("nan"), 1.0, 1.0, 0.0])] * 3
    df = spark.createDataFrame(rows, "event_date date, features array<float>")
    scored = score_dataframe(
        df, _ensemble(), options=ScoringOptions(nonfinite="null", threshold=0.5)
    )
    reference = {"feature_edges": [[0.0, 5.0]] * 4, "score_edges": [0.5]}
    (entry,) = date_summaries(scored, NAMES, reference)
    amount = entry["features"]["amount_log1p"]
    assert (amount["mean"], amount["nonfinite"], amount["q50"]) == (None, 3, None)  # mean was 0.0
    assert entry["mean_score"] is None and entry["alerts"] == 0


def test_infinite_values_are_not_counted_beyond_the_training_range(spark):
    # session 54 probe: under scoring.nonfinite null an inf (or -inf) feature gives the row a
    # null score, and `nonfinite` counts it; `above_range` (`below_range`) counted it too, so
    # the job's out_of_range and its WARNING ("the model clips such inputs ... their scores
    # treat them as at that bound") named rows the model never scored. A finite value beyond
    # the range is still counted (the job's vectors are float: 1e39 is inf there too).
    day, inf = dt.date(2024, 3, 1), float("inf")
    rows = [(day, [1.0, 1.0, 1.0, 0.0])] * 6
    rows += [(day, [inf, 1.0, 1.0, 0.0])] * 3 + [(day, [-inf, 1.0, 1.0, 0.0])] * 2
    rows += [(day, [20.0, 1.0, 1.0, 0.0]), (day, [1.0, -30.0, 1.0, 0.0])]
    df = spark.createDataFrame(rows, "event_date date, features array<float>").repartition(2)
    scored = score_dataframe(
        df, _ensemble(), options=ScoringOptions(nonfinite="null", threshold=0.5)
    )
    reference = {"feature_edges": [[0.0, 5.0]] * 4, "score_edges": [0.5]}
    bounds = ([-10.0] * 4, [10.0] * 4)
    (entry,) = date_summaries(scored, NAMES, reference, bounds=bounds)
    amount, hour = entry["features"]["amount_log1p"], entry["features"]["hour_of_day"]
    assert amount["nonfinite"] == 5
    assert (amount["below_range"], amount["above_range"]) == (0, 1)  # was (2, 4)
    assert (hour["below_range"], hour["above_range"]) == (1, 0)
    assert out_of_range([entry], NAMES, bounds) == {
        "amount_log1p": {"rows": 1, "below": 0, "above": 1, "low": -10.0, "high": 10.0},
        "hour_of_day": {"rows": 1, "below": 1, "above": 0, "low": -10.0, "high": 10.0},
    }


def test_rows_scored_null_are_one_warning_and_a_metric(caplog):
    # session 54: under scoring.nonfinite: null a date whose rows had NaN features was
    # scored with a null score for them (never alerted) and the job said nothing: no line,
    # no count of such rows in the summary, the printed JSON or MLflow
    dates = [
        {"date": "2024-03-01", "rows": 40, "alerts": 2, "null_scores": 20},
        {"date": "2024-03-02", "rows": 5, "alerts": 0, "null_scores": 0},
    ]
    with caplog.at_level(logging.WARNING, logger="fraud_app.scoring.job"):
        warn_null_scores(dt.date(2024, 3, 1), dt.date(2024, 3, 2), dates)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("score 2024-03-01..2024-03-02: 20 row(s) have NaN or infinite")
    assert "so they can raise no alert: 2024-03-01 (20 of 40 rows)." in line
    totals, _ = scoring_metrics({"dates": dates})
    assert totals["null_scores"] == 20.0
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fraud_app.scoring.job"):
        warn_null_scores(dt.date(2024, 3, 2), dt.date(2024, 3, 2), dates[1:])
    assert not caplog.records
