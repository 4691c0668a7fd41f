"""One scored window's C4 report on the executors (`evaluate`, `train`'s test window):
what fraud_app.scoring.evaluation.evaluation_report computes from collected arrays, from a
persisted scored frame instead, the driver holding per-day sums only.

`census` is the one job that reads every row first: the rows and unlabelled rows per date,
the labels other than 0 / 1 (the first one in the frame's order, for the message) and the
non-finite scores; `window_report` then computes the figures (fraud_app.evaluation.
spark_ranking, spark_cards).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from dlcore.errors import ConfigError
from dlcore.metrics import nonfinite_scores_error
from fraud_app.evaluation.spark_cards import card_precision
from fraud_app.evaluation.spark_ranking import (
    ROW,
    DayFigures,
    WindowColumns,
    auc_and_ap,
    budget_report,
    day_figures,
)
from fraud_app.scoring.evaluation import FigureRequest, threshold_summary, unassigned_summary

DRIVER_ROWS = 250_000  # a window of at most this many rows is collected (see fits_on_driver)
ROW_BYTES = 64  # a row of the collected columns, serialised (53 measured, 16-character ids)


def fits_on_driver(spark, rows: int) -> bool:
    """Whether a window of `rows` rows is collected and its figures computed in NumPy (the
    same numbers: tests/fraud_app/evaluation/test_spark_figures.py): up to DRIVER_ROWS rows
    and an eighth of `spark.driver.maxResultSize`. A small window's figures cost ~1 s there,
    and 30-40 s of Spark jobs on the executors; a large one's rows do not fit there."""
    if rows > DRIVER_ROWS:
        return False
    cap = spark.sparkContext.getConf().get("spark.driver.maxResultSize", "1g")
    limit = spark.sparkContext._jvm.org.apache.spark.network.util.JavaUtils.byteStringAsBytes(cap)
    return limit == 0 or rows * ROW_BYTES * 8 <= limit


@dataclass(frozen=True)
class Census:
    rows: int  # all rows of the window, labelled or not
    dates: list  # the dates with rows (ascending)
    unlabelled: int
    day_rows: dict  # labelled rows per date
    frauds: int
    bad_labels: int  # labels set to something else than 0 / 1
    first_bad: float | None  # the first such label in the frame's order
    nonfinite: int  # labelled rows whose score is NaN or infinite

    @property
    def labelled(self) -> int:
        return self.rows - self.unlabelled


def census(w: DataFrame, cols: WindowColumns) -> Census:
    """One aggregation by date (dates x 1 rows to the driver)."""
    y, s = F.col(cols.label), F.col(cols.score)
    known = y.isNotNull()
    bad = known & ~y.isin(0.0, 1.0)
    finite = s.isNotNull() & ~F.isnan(s) & ~s.isin(float("inf"), float("-inf"))
    rows = (
        w.groupBy(F.col(cols.day).alias("d"))
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum((~known).cast("long")).alias("unknown"),
            F.sum(F.when(known & (y == 1), 1).otherwise(0)).alias("frauds"),
            F.sum(bad.cast("long")).alias("bad"),
            F.min(F.when(bad, F.struct(F.col(ROW), y))).alias("first_bad"),
            F.sum(F.when(known & ~finite, 1).otherwise(0)).alias("nonfinite"),
        )
        .collect()
    )
    rows.sort(key=lambda r: (r["d"] is None, r["d"]))  # a null key (label) last
    firsts = [r["first_bad"] for r in rows if r["first_bad"] is not None]
    return Census(
        rows=sum(r["n"] for r in rows),
        dates=[r["d"] for r in rows],
        unlabelled=sum(r["unknown"] for r in rows),
        day_rows={r["d"]: r["n"] - r["unknown"] for r in rows if r["n"] > r["unknown"]},
        frauds=sum(r["frauds"] for r in rows),
        bad_labels=sum(r["bad"] for r in rows),
        first_bad=float(min(firsts)[1]) if firsts else None,
        nonfinite=sum(r["nonfinite"] for r in rows),
    )


def check_binary(seen: Census) -> None:
    """dlcore.metrics' checks of every row (none left out as unlabelled), in its order."""
    if seen.nonfinite:
        raise nonfinite_scores_error(seen.nonfinite, seen.rows)
    if seen.unlabelled or seen.bad_labels:
        found = [float("nan") if seen.unlabelled else seen.first_bad]
        raise ConfigError(f"y_true must hold only labels 0 and 1. Received values such as {found}")


def window_report(
    w: DataFrame, cols: WindowColumns, seen: Census, request: FigureRequest,
    days: DayFigures | None = None,
):  # fmt: skip
    """evaluation_report's figures (same keys and order) of `w`'s labelled rows, whose labels
    `seen` found to be 0 or 1. `days`: their day_figures under `request`, when the caller
    has them (else computed here)."""
    if seen.nonfinite:
        raise nonfinite_scores_error(seen.nonfinite, seen.labelled)
    labelled = w.where(F.col(cols.label).isNotNull())
    out = {
        "rows": seen.labelled,
        "frauds": seen.frauds,
        "days": len(seen.day_rows),
        **auc_and_ap(labelled, cols, seen.frauds, seen.labelled),
    }
    if days is None:
        days = day_figures(labelled, cols, seen.day_rows, request)
    out["alert_budgets"] = budget_report(request, days, seen.frauds)
    if cols.card is not None:
        out["card_precision_at_k"] = card_precision(labelled, cols, request.card_k, days.days)
    if cols.pattern is not None and request.pattern_budget is not None:
        out["pattern_recall"] = {
            str(name): hit / frauds for name, (frauds, hit) in sorted(days.patterns.items())
        }
        out["pattern_recall_budget"] = float(request.pattern_budget)
        out["pattern_unassigned"] = unassigned_summary(*days.unassigned)
    if request.threshold is not None and seen.labelled:
        t = days.threshold
        out["model_threshold"] = threshold_summary(
            request.threshold, t["per_day"], float(t["caught"]), float(seen.frauds)
        )
    return out
