"""The C4 figures computed on the executors (fraud_app.evaluation.spark_window) against the
NumPy ones of the same rows collected (fraud_app.scoring.evaluation.evaluation_report, what
`evaluate` computed until session 31): ties of scores within and across days, days without
frauds, a day with fewer cards than k, fraud cards seen again on later days (left out once
caught), a day holding a null card id, unlabelled rows, several range partitions. ROC AUC
and every count, cut-off and precision are the same bits; AP the same up to the order of
its float sum. Real local Spark."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.evaluation.spark_ranking import ROW, WindowColumns, with_row_order
from fraud_app.evaluation.spark_window import FigureRequest, census, window_report
from fraud_app.scoring.evaluation import evaluation_report
from tests.fraud_app.evaluation.same_figures import same

pytestmark = pytest.mark.spark
SCHEMA = "label double, fraud_score double, event_date date, card_id string, fraud_pattern string"
REQUEST = FigureRequest(budgets=(0.01, 0.05, 0.3), card_k=3, pattern_budget=0.05, threshold=0.5)


def _rows(seed: int, n: int, *, decimals: int | None, null_card_day: int | None = None):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        day = int(rng.integers(0, 9))
        fraud = float(rng.random() < (0.0 if day in (2, 5) else 0.15))  # 2 and 5: no fraud
        score = float(rng.random() * 0.6 + 0.4 * fraud * rng.random())
        score = round(score, decimals) if decimals is not None else score
        card = f"c{int(rng.integers(0, 4 if day == 7 else 40))}"  # day 7: < k cards at times
        if day == null_card_day and i % 5 == 0:
            card = None
        label = None if i % 17 == 0 else fraud  # unlabelled: left out of the figures
        pattern = ["card_testing", "ato", None][i % 3] if fraud else None
        out.append((label, score, dt.date(2024, 3, 1 + day), card, pattern))
    return out


def _both(spark, rows, request=REQUEST):
    df = spark.createDataFrame(rows, SCHEMA).repartition(3)
    w = with_row_order(df).cache()
    cols = WindowColumns(card="card_id", pattern="fraud_pattern")
    seen = census(w, cols)
    new = window_report(w, cols, seen, request)
    table = w.where(F.col("label").isNotNull()).orderBy(ROW).toArrow()  # the collect's order
    data = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
    old = evaluation_report(
        labels=data["label"].astype(np.float64),
        scores=data["fraud_score"].astype(np.float64),
        days=data["event_date"].astype(str),
        cards=data["card_id"],
        patterns=data["fraud_pattern"],
        budgets=request.budgets,
        card_k=request.card_k,
        pattern_budget=request.pattern_budget,
        threshold=request.threshold,
    )
    w.unpersist()
    return old, new


@pytest.mark.parametrize(
    ("seed", "decimals"),
    [(0, 2), (1, 1), (2, None), (3, 3)],
    ids=["ties", "few", "distinct", "3dp"],
)
def test_the_distributed_figures_are_those_of_the_collected_rows(spark, seed, decimals):
    spark.conf.set("spark.sql.shuffle.partitions", "5")  # several range partitions of scores
    try:
        old, new = _both(spark, _rows(seed, 3000, decimals=decimals))
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "2")
    same(old, new)
    assert new["roc_auc"] == old["roc_auc"]  # bit-equal: the rank sum is an exact integer
    assert any(d["cards"] < 3 for d in new["card_precision_at_k"]["per_day"]) or seed != 0


def test_a_day_with_a_null_card_ranks_ties_by_first_seen_as_before(spark):
    old, new = _both(spark, _rows(4, 2000, decimals=1, null_card_day=3))
    same(old, new)


def test_caught_cards_are_left_out_of_later_days_beyond_the_first_fetch(spark):
    # the same 6 fraud cards score highest every day: from day 2 on, the top 2k (6) of a
    # day are all caught, so the day is fetched again with enough rows
    rows = [
        (1.0 if c < 6 else 0.0, 0.9 - c * 0.01, dt.date(2024, 3, 1 + d), f"c{c:02d}", None)
        for d in range(4) for c in range(20)
    ]  # fmt: skip
    old, new = _both(spark, rows, FigureRequest((0.1,), 3, 0.1, None))
    same(old, new)
    assert [d["precision"] for d in new["card_precision_at_k"]["per_day"]] == [1.0, 1.0, 0, 0]


def test_one_class_windows_give_nan_as_before(spark):
    rows = [(0.0, 0.1 * (i % 4), dt.date(2024, 3, 1 + i % 2), f"c{i}", None) for i in range(40)]
    old, new = _both(spark, rows)
    same(old, new)
    assert math.isnan(new["roc_auc"]) and math.isnan(new["average_precision"])


def test_a_backtest_folds_figures_are_those_of_its_collected_rows(spark):
    from fraud_app.evaluation.ranking import fold_metrics
    from fraud_app.evaluation.spark_folds import fold_census, fold_figures, fold_rows

    rng = np.random.default_rng(5)
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    rows = [
        (f"t{i}", f"c{int(rng.integers(0, 30))}", start + dt.timedelta(minutes=int(m)),
         int(rng.random() < 0.1), round(float(rng.random()), 2))
        for i, m in enumerate(rng.integers(0, 6 * 1440, 2500))
    ]  # fmt: skip
    scored = spark.createDataFrame(
        rows, "transaction_id string, card_id string, timestamp timestamp, label int, "
        "fraud_score double"
    ).repartition(3).cache()  # fmt: skip
    w = fold_rows(scored)
    try:
        new = fold_figures(w, fold_census(w), "fraud_score", budget=0.05, k=4)
        pdf = scored.toPandas()  # what backtest collected: the same order as ROW's
    finally:
        w.unpersist()
        scored.unpersist()
    old = fold_metrics(pdf, "fraud_score", budget=0.05, k=4)
    same(old, new)
    assert len(new["card_precision_per_day"]) == 6


def test_a_baseline_joined_by_transaction_id_gives_the_figures_of_its_mapped_scores(spark):
    from fraud_app.evaluation.ranking import fold_metrics
    from fraud_app.evaluation.spark_folds import fold_census, fold_figures, fold_rows, with_scores

    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    rows = [(f"t{i}", f"c{i % 23}", start + dt.timedelta(hours=i % 71), int(i % 9 == 0),
             (i * 37 % 100) / 100) for i in range(700)]  # fmt: skip
    scored = spark.createDataFrame(
        rows, "transaction_id string, card_id string, timestamp timestamp, label int, "
        "fraud_score double"
    ).repartition(2).cache()  # fmt: skip
    baseline = {f"t{i}": (i * 53 % 97) / 97 for i in range(700)}
    scores = spark.createDataFrame(list(baseline.items()), "transaction_id string, _p double")
    w = fold_rows(scored)
    try:
        joined = with_scores(w, scores, "baseline")
        new = fold_figures(joined, fold_census(joined, "baseline"), "baseline", budget=0.1, k=2)
        pdf = scored.toPandas()
    finally:
        w.unpersist()
        scored.unpersist()
    pdf["baseline"] = pdf["transaction_id"].map(baseline)  # what backtest did on the driver
    same(fold_metrics(pdf, "baseline", budget=0.1, k=2), new)


@pytest.mark.parametrize("decimals", [1, None], ids=["ties", "distinct"])
def test_trains_ranking_figures_are_those_of_the_collected_scores(spark, decimals):
    from fraud_app.evaluation.spark_scores import score_figures
    from fraud_app.models.train import evaluate_scores

    df = spark.createDataFrame(_rows(6, 3000, decimals=decimals), SCHEMA).repartition(3)
    w = with_row_order(df.where(F.col("label").isNotNull())).cache()
    cols = WindowColumns(card=None)
    seen = census(w, cols)
    try:
        new = score_figures(w, cols, rows=seen.rows, frauds=seen.frauds)
        table = w.orderBy(ROW).toArrow()
    finally:
        w.unpersist()
    old = evaluate_scores(table.column("label").to_numpy(), table.column("fraud_score").to_numpy())
    same(old, new)
