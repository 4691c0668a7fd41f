"""Edges of the session 50 tie rule on the executors against NumPy (review50c): a day of
all-equal scores (the whole day alerted), a day without a fraud, budgets whose b x rows
rounds to 0 alerts and a budget of every row, numeric card ids (long) with nulls that tie
at k (9 before 10 numerically on both paths, a null id last; collected, such a column
comes back float64 with NaN), and average precision on tied scores equal to scikit-learn's
(its thresholds group tied scores). Real local Spark, 60 rows, two partitionings."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F
from sklearn.metrics import average_precision_score

from fraud_app.evaluation.spark_ranking import ROW, WindowColumns, with_row_order
from fraud_app.evaluation.spark_scores import score_figures
from fraud_app.evaluation.spark_window import FigureRequest, census, window_report
from fraud_app.models.scores import evaluate_scores
from fraud_app.scoring.evaluation import evaluation_report
from tests.fraud_app.evaluation.same_figures import same

pytestmark = pytest.mark.spark
SCHEMA = "label double, fraud_score double, event_date date, card_id long, fraud_pattern string"
REQUEST = FigureRequest(budgets=(0.001, 0.3, 1.0), card_k=2, pattern_budget=0.001, threshold=0.5)
RATES = (0.001, 0.3, 1.0)


def _rows() -> list[tuple]:
    d1, d2, d3 = (dt.date(2024, 3, d) for d in (1, 2, 3))
    rows = [(float(i in (0, 11)), 0.5, d1, 100 + i % 6, "ato") for i in range(20)]  # all 0.5
    # day 2: no fraud, 4 scores of 5 rows each, a null card id every 5th row
    rows += [
        (0.0, round(0.1 * (i % 4), 1), d2, None if i % 5 == 0 else i % 7, None) for i in range(20)
    ]
    # day 3: cards 9 and 10 tie at k = 2 behind card 3; 10 holds the fraud, 9 is reviewed
    rows += [(0.0, 0.9, d3, 3, None), (1.0, 0.6, d3, 10, "card_testing"), (0.0, 0.6, d3, 9, None),
             (0.0, 0.6, d3, None, None)]  # fmt: skip
    rows += [(float(i == 0), 0.2, d3, 20 + i, None) for i in range(16)]
    return rows


def _numpy(labels, scores, days, cards, patterns) -> dict:
    report = evaluation_report(
        labels=labels, scores=scores, days=days, cards=cards, patterns=patterns,
        budgets=REQUEST.budgets, card_k=REQUEST.card_k,
        pattern_budget=REQUEST.pattern_budget, threshold=REQUEST.threshold,
    )  # fmt: skip
    return {"report": report, "top": evaluate_scores(labels, scores, alert_rates=RATES)}


def test_tie_edges_on_the_executors_equal_numpy_and_scikit_learn(spark):
    rows = _rows()
    labels = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    cards = np.empty(len(rows), dtype=object)
    cards[:] = [r[3] for r in rows]
    want = _numpy(labels, scores, np.array([str(r[2]) for r in rows], dtype=object), cards,
                  np.array([r[4] for r in rows], dtype=object))  # fmt: skip
    budgets = want["report"]["alert_budgets"]
    # day 1 whole at every budget; day 2's top score is 5 rows, its 6th of 4 scores 10 rows
    assert [(b["alerts"], b["quota"]) for b in budgets] == [(26, 3), (50, 18), (60, 60)]
    assert want["top"]["precision_at_alert_0.3"] == 3 / 24  # the 18th score, 0.5: 24 rows
    assert [d["precision"] for d in want["report"]["card_precision_at_k"]["per_day"]] == [
        0.5,
        0.0,
        0.0,
    ]  # fmt: skip  (day 1: cards 100 and 101; day 3: 3 and 9, not 10)
    assert want["report"]["average_precision"] == pytest.approx(
        average_precision_score(labels, scores), rel=1e-12
    )
    cols = WindowColumns(card="card_id", pattern="fraud_pattern")
    rng = np.random.default_rng(5)
    for parts in (1, 4):
        shuffled = [rows[i] for i in rng.permutation(len(rows))]
        df = spark.createDataFrame(shuffled, SCHEMA).repartition(parts, F.rand(seed=parts))
        w = with_row_order(df).cache()
        try:
            seen = census(w, cols)
            got = {
                "report": window_report(w, cols, seen, REQUEST),
                "top": score_figures(w, cols, rows=seen.rows, frauds=seen.frauds,
                                     alert_rates=RATES),
            }  # fmt: skip
            table = w.orderBy(ROW).toArrow()  # what `evaluate` collects
        finally:
            w.unpersist()
        same(want, got, f"partitions={parts}")
        collected = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
        assert collected["card_id"].dtype == np.float64  # the nulls came back NaN
        same(want, _numpy(collected["label"], collected["fraud_score"],
                          collected["event_date"].astype(str), collected["card_id"],
                          collected["fraud_pattern"]), f"collected, partitions={parts}")  # fmt: skip
