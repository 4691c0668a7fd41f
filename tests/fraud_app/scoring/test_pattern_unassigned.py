"""Frauds without a fraud pattern (session 49, probe49b): `pattern_recall` left them out
without a word, so a window whose late labels came without a pattern (or a table whose
frauds mostly have none) showed the recall of the few patterned frauds as if it were all of
them (with every fraud unpatterned, `pattern_recall` was `{}`). The report now counts them
beside it (`pattern_unassigned`), the same in the NumPy figures, on the executors, in
MLflow's metrics and in the note of the dashboard's pattern section."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from fraud_app.scoring.evaluation import evaluation_report
from fraud_app.tracking.jobs import evaluation_metrics

# day d1: 10 rows, budget 0.2 -> 2 alerts (0.9 p, 0.85 unpatterned); d2: 5 rows -> 1 alert
LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]
SCORES = [0.9, 0.85, 0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.95, 0.05, 0.2, 0.2, 0.2]
PATTERNS = ["p", None, None, "q", None, None, None, None, None, None, None, "q", None, None, None]
DAYS = ["2024-03-01"] * 10 + ["2024-03-02"] * 5
CARDS = [f"c{i}" for i in range(15)]


def _numpy(patterns=PATTERNS, labels=LABELS):
    return evaluation_report(
        labels=np.array(labels, dtype=np.float64), scores=np.array(SCORES),
        days=np.array(DAYS), cards=np.array(CARDS, dtype=object),
        patterns=np.array(patterns, dtype=object), budgets=(0.2,), card_k=2,
        pattern_budget=0.2,
    )  # fmt: skip


def test_frauds_without_a_pattern_are_counted_beside_the_recall_per_pattern():
    report = _numpy()
    assert report["pattern_recall"] == {"p": 1.0, "q": 0.0}
    # 3 unpatterned frauds: 0.85 (alerted on d1), 0.1 (not), 0.95 (alerted on d2)
    assert report["pattern_unassigned"] == {"frauds": 3, "alerted": 2, "recall": 2 / 3}
    assert [type(v) for v in report["pattern_unassigned"].values()] == [int, int, float]


def test_every_fraud_without_a_pattern_is_not_an_empty_report():
    report = _numpy(patterns=[None] * 15)
    assert report["pattern_recall"] == {}
    assert report["pattern_unassigned"] == {"frauds": 6, "alerted": 3, "recall": 0.5}


def test_a_pandas_nan_pattern_is_no_pattern_named_nan():
    report = _numpy(patterns=[float("nan") if p is None else p for p in PATTERNS])
    assert report["pattern_recall"] == {"p": 1.0, "q": 0.0}
    assert report["pattern_unassigned"]["frauds"] == 3


def test_no_unpatterned_fraud_has_an_undefined_recall_and_mlflow_gets_the_count():
    every = ["p" if y else None for y in LABELS]
    u = _numpy(patterns=every)["pattern_unassigned"]
    assert u["frauds"] == 0 and u["alerted"] == 0 and np.isnan(u["recall"])
    metrics = evaluation_metrics(_numpy())
    assert metrics["pattern_unassigned_frauds"] == 3.0
    assert metrics["pattern_unassigned_recall"] == pytest.approx(2 / 3)
    none = evaluation_metrics(_numpy(patterns=every))
    assert none["pattern_unassigned_frauds"] == 0.0 and "pattern_unassigned_recall" not in none


@pytest.mark.spark
def test_the_executors_count_them_as_the_numpy_figures_do(spark):
    from fraud_app.evaluation.spark_ranking import WindowColumns, with_row_order
    from fraud_app.evaluation.spark_window import FigureRequest, census, window_report

    rows = [
        (float(y), s, dt.date.fromisoformat(d), c, p)
        for y, s, d, c, p in zip(LABELS, SCORES, DAYS, CARDS, PATTERNS, strict=True)
    ]
    schema = (
        "label double, fraud_score double, event_date date, card_id string, fraud_pattern string"
    )
    w = with_row_order(spark.createDataFrame(rows, schema).repartition(2)).cache()
    try:
        cols = WindowColumns(card="card_id", pattern="fraud_pattern")
        request = FigureRequest(budgets=(0.2,), card_k=2, pattern_budget=0.2)
        report = window_report(w, cols, census(w, cols), request)
    finally:
        w.unpersist()
    assert report["pattern_recall"] == {"p": 1.0, "q": 0.0}
    assert report["pattern_unassigned"] == _numpy()["pattern_unassigned"]
    assert list(report) == list(_numpy())  # the same keys in the same order


def _page(tmp_path, recall: dict, unassigned: dict) -> str:
    from dashboards import render_run
    from dashboards.synthetic import SyntheticRun, write_run

    sources = write_run(tmp_path, SyntheticRun(run="r1", members=1, groups=3, scored_days=1,
                                               test_rows=600, features=4))  # fmt: skip
    path = sources.reports / "evaluation-r1-test.json"
    report = json.loads(path.read_text())
    report["pattern_recall"] = recall
    report["pattern_unassigned"] = unassigned
    path.write_text(json.dumps(report))
    render_run(sources, "r1")
    return (sources.output / "r1" / "model-quality.html").read_text()


def test_the_dashboard_says_how_many_frauds_had_no_pattern(tmp_path):
    page = _page(tmp_path, {"card_testing": 0.5}, {"frauds": 7, "alerted": 2, "recall": 2 / 7})
    assert "Recall per fraud pattern" in page
    assert "evaluation-r1-test.json: 7 without a pattern, 28.6% of them alerted" in page


def test_data_without_patterns_gets_no_pattern_section(tmp_path):
    # every fraud unpatterned: a table without a fraud_pattern column (most real data)
    # reads the same, so no section of counts on every page
    page = _page(tmp_path, {}, {"frauds": 7, "alerted": 2, "recall": 2 / 7})
    assert "Recall per fraud pattern" not in page and "without a pattern" not in page
