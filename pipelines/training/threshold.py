"""Which rows set the alert threshold stored with the model (C2, `metadata.scoring`).

The threshold is the ceil(b x rows)-th highest score of a window (fraud_app.scoring.
reference.alert_threshold); `score` then alerts every row at or above it, one fixed score
for every new day. It raises the budget on new days only when the window's scores are
distributed as theirs. Until session 35 the window was validation: five labelled days,
older than the test gap, which the default refit also trains on. On generated data one
such window held a fraud burst (41 frauds in 3,655 rows, more than the 1 % budget): the
threshold sat among the frauds' scores and the test days raised 0.10 x the budget; the
test gap's threshold raised 0.88 x (docs/PROBES.md, "Session 35 probes (helper thresh35)").

The rows chosen: the test gap, [validation end, test start), the newest rows before the
cut-off (the start of test). No window trains on them (their labels are not all known
at the cut-off: the gap is the label delay), but their features are known then, and a
volume budget needs no labels: unlabelled rows (label null) count as well. The test
window itself is never read (it is for evaluation). When the gap holds too few rows for a
stable cut-off (`splits.test_gap_days: 0`, a short gap of a small export) the validation
window sets it, as before session 35, and `metadata.scoring.threshold_rows` says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from dlcore.daily_ranking import alerts_for
from fraud_app.errors import EmptyInputError
from fraud_app.scoring.reference import alert_threshold
from fraud_app.scoring.tasks import task_errors
from pipelines.training import nodes

logger = logging.getLogger(__name__)

# the gap must raise at least this many alerts at the budget (ceil(b x rows)) to set the
# threshold: one day of a small export gives a cut-off of 1 or 2 rows, noise
MIN_GAP_ALERTS = 10

# How the rows' scores make the threshold, stored as threshold_rows.estimator: "pooled", the
# ceil(b x rows)-th score of all the window's rows (alert_threshold). Session 36 (helper
# thresh36) measured the median over the gap's days of each day's quantile and a trimmed
# mean of them, with and without a fraud burst on two days of the gap, and neither met the
# rule set before measuring (docs/PROBES.md, "Session 36 probes (helper thresh36)").
ESTIMATOR = "pooled"


def threshold_rows_info(window: str, start, end, rows: int, *, trained_on: bool) -> dict[str, Any]:
    """metadata.scoring.threshold_rows: the window whose scores set the threshold, its
    UTC bounds [start, end), its rows, whether the saved model trained on them, and the
    estimator that made the threshold of their scores (ESTIMATOR; a model saved before
    session 36 has no `estimator`: pooled too)."""
    return {
        "window": window,
        "start": None if start is None else start.isoformat(),
        "end": end.isoformat(),
        "rows": int(rows),
        "trained_on": bool(trained_on),
        "estimator": ESTIMATOR,
    }


class GapScores:
    """The saved ensemble's scores of every row of a window (the test gap [validation end,
    test start), labelled or not; the validation window of the fallback past
    `fits_on_driver`), kept on the executors: `total` (every row), `rows` (those with a
    finite score) and `threshold(budget)` (alert_threshold's ceil(b x rows)-th highest of
    them) are computed there. Collected, they were 8 bytes a row of the gap on the driver:
    the label delay's whole traffic, 2.4 GB for 3 x 10^8 rows (session 42)."""

    def __init__(self, scores: DataFrame):
        s = F.col("s")
        self._finite = s.isNotNull() & ~F.isnan(s) & (F.abs(s) != F.lit(float("inf")))
        self._scores = scores.select(F.col("fraud_score").cast("double").alias("s")).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        # scored once: counted, then its k highest sorted
        self._counts: tuple[int, int] | None = None

    def _count(self) -> tuple[int, int]:
        if self._counts is None:
            with task_errors():
                r = self._scores.agg(F.count(F.lit(1)), F.count(F.when(self._finite, 1))).first()
            self._counts = (int(r[0]), int(r[1]))
        return self._counts

    @property
    def total(self) -> int:
        return self._count()[0]

    @property
    def rows(self) -> int:
        return self._count()[1]

    def threshold(self, budget: float) -> float:
        """The score of the k-th highest row, k = alerts_for(budget, rows), on the
        executors (Spark's TakeOrderedAndProject: each task keeps its k highest, one task
        merges them, up to partitions x k rows through a queue of k; the driver receives
        one number). No finite score: alert_threshold's EmptyInputError."""
        if not self.rows:
            raise EmptyInputError("cannot set an alert threshold: the window has no scores")
        k = alerts_for(budget, self.rows)
        finite = self._scores.where(self._finite)
        with task_errors():
            top = finite.orderBy(F.desc("s")).limit(k).agg(F.min("s")).first()[0]
        return float(top)

    def release(self) -> None:
        self._scores.unpersist()


def gap_scores(table, splits, ensemble, vector: str) -> GapScores:
    """The saved ensemble's scores of every row of the feature table `table` (labelled or
    not) in the test gap [validation end, test start), persisted where they are scored:
    nothing of them reaches the driver but their count and the threshold."""
    start, end = splits.windows[1].end, splits.windows[2].start
    ts = F.col("timestamp")
    rows = table.where((ts >= F.lit(start)) & (ts < F.lit(end)))
    scored = nodes.score(rows, ensemble, features_col=vector).select("fraud_score")
    return GapScores(scored)


def choose(
    gap: GapScores, validation: Callable[[], np.ndarray | GapScores], splits, budget: float, *,
    refit: bool,
) -> tuple[float, dict[str, Any]]:  # fmt: skip
    """(the alert threshold, threshold_rows_info of the rows that set it): the test gap's
    when it raises at least MIN_GAP_ALERTS alerts at the budget, else the validation
    window's (`validation()`, scored only then: its collected scores, or a GapScores of a
    window past `fits_on_driver`; the model trained on it after a refit: one WARNING)."""
    val_w, test_w = splits.windows[1], splits.windows[2]
    try:
        n = gap.rows
        if math.ceil(budget * n) >= MIN_GAP_ALERTS:
            return gap.threshold(budget), threshold_rows_info(
                "test_gap", val_w.end, test_w.start, n, trained_on=False
            )
    finally:
        gap.release()
    if refit:
        logger.warning(
            "the alert threshold comes from the validation window, which the refit model "
            "trained on, so new days may raise more or fewer alerts than the budget: the "
            "test gap (%s .. %s) holds %d rows, %d alerts at the budget %g, fewer than the "
            "%d that set it from rows no window trains on. Lengthen splits.test_gap_days "
            "(default: features.label_delay_days)",
            val_w.end, test_w.start, n, math.ceil(budget * n), budget, MIN_GAP_ALERTS,
        )  # fmt: skip
    scores = validation()
    if isinstance(scores, GapScores):  # a window past fits_on_driver: its k-th highest there
        try:
            info = threshold_rows_info("validation", val_w.start, val_w.end, scores.total,
                                       trained_on=refit)  # fmt: skip
            return scores.threshold(budget), info
        finally:
            scores.release()
    scores = np.asarray(scores, dtype=np.float64)
    info = threshold_rows_info("validation", val_w.start, val_w.end, scores.size,
                               trained_on=refit)  # fmt: skip
    return alert_threshold(scores, budget), info
