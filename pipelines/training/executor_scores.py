"""One ensemble's scores of a validation window past `fits_on_driver`, left on the executors.

`scored_validation` collected every row's label, score and date (`nodes.collect_scores`)
for the two uses below: 20 bytes a row of task results, 24 in NumPy, ~2 GB for a
10^8-row window (docs/PROBES.md, session 42). `ExecutorScores` holds no row: it keeps the
window's DataFrame and the ensemble, and each use runs its Spark jobs when it is asked:

* the promotion gate on the days a champion did not train on (pipelines.training.gate,
  trained_dates): whether the window holds rows before a day, the rows and frauds from it
  on (one aggregation of the unscored window), and the AP of those rows scored again,
  computed as the champion's is (`nodes.evaluate`: collected within `fits_on_driver`, else
  on the executors, fraud_app.evaluation.spark_ranking);
* the validation fallback of the alert threshold (pipelines.training.threshold.choose):
  the rows scored again into a GapScores, whose k-th highest score is taken there.

Scoring is deterministic per row (the fused plan gives a row the same bits in any batch),
so the figures are those of the collected scores. Nothing is persisted between uses: the
gate runs on the tracking thread, again when the champion moved (registry.register_decided).

It does not own where the window is or when it is collected (pipelines.training.validation),
the gate's decision (pipelines.training.gate) or the threshold rule (threshold.choose).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.tasks import task_errors
from pipelines.training import nodes
from pipelines.training.threshold import GapScores

DAY = "event_date"


@dataclass(frozen=True)
class DaysFrom:
    """The window's rows before a day, and its rows and frauds from that day on."""

    before: int
    rows: int
    frauds: int


@dataclass
class ExecutorScores:
    """`ensemble`'s scores of `window` (its `features_col` vectors), on the executors."""

    window: DataFrame
    ensemble: FraudEnsemble
    features_col: str
    _days: dict[dt.date, DaysFrom] = field(default_factory=dict, repr=False)

    @property
    def has_dates(self) -> bool:
        return DAY in self.window.columns

    def days_from(self, first: dt.date) -> DaysFrom:
        """One aggregation of the unscored window (its date and label columns), kept. A row
        without a date is not from `first` on: counted before it, as the collected mask
        (NaT >= day is False) counts it."""
        if first not in self._days:
            since = F.col(DAY) >= F.lit(first)
            fraud = since & (F.col("label") == 1)
            with task_errors():
                r = self.window.agg(
                    F.count(F.lit(1)), F.count(F.when(since, 1)), F.count(F.when(fraud, 1))
                ).first()
            self._days[first] = DaysFrom(int(r[0]) - int(r[1]), int(r[1]), int(r[2]))
        return self._days[first]

    def ap_from(self, first: dt.date) -> float:
        """The average precision of the rows from `first` on, scored again (as
        champion.champion_ap scores the champion on them)."""
        rows = self.window.where(F.col(DAY) >= F.lit(first))
        scored = nodes.score(rows, self.ensemble, features_col=self.features_col)
        return nodes.evaluate(scored)["average_precision"]

    def threshold_scores(self) -> GapScores:
        """The window's scores for alert_threshold's k-th highest, on the executors."""
        scored = nodes.score(self.window, self.ensemble, features_col=self.features_col)
        return GapScores(scored.select("fraud_score"))


def threshold_input(scores: dict[str, Any] | ExecutorScores):
    """What threshold.choose takes of a window's scores: the collected `fraud_score`, or a
    GapScores of scores left on the executors."""
    if isinstance(scores, ExecutorScores):
        return scores.threshold_scores()
    return scores["fraud_score"]
