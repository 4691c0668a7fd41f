"""The figures of contract C4 computed on the executors: the driver receives per-day and
per-partition sums, never a row of the window.

`evaluate` collected every row's label, score, date, card and pattern (~200 bytes a row on
the driver, the whole window in one `toArrow`): a year of a bank's rows did not fit, and past
`spark.driver.maxResultSize` Spark stopped the job. Here each figure is the same definition
as the NumPy one (dlcore.metrics, dlcore.daily_ranking, fraud_app.scoring.evaluation) and
ends in the same finishing function, so the figures are the same numbers:

* ROC AUC: the rows grouped by distinct score (positives, rows), range-partitioned by score
  and sorted within each partition; each partition sums its positives' ranks (average ranks
  for ties) as an exact integer, the driver adds each partition's offset (rows in lower
  partitions). Same bits as `roc_auc` (its rank sum is exact in float64 below 2**52 rows).
* Average precision: a second pass over the same partitions with each one's offsets (the
  positives and rows of higher scores), the step terms of `average_precision` exactly, summed
  with `math.fsum` per batch and on the driver: equal up to the order of a float sum (~1e-15
  relative; the NumPy path sums pairwise).
* Daily budgets, the model's threshold, per-pattern recall: a `rank` per day (score down;
  tied rows share a rank, so a row is alerted when fewer than the day's quota score above
  it: every row tied at the cut-off is in, dlcore.daily_ranking's rule, whatever the rows'
  order or partitions), one aggregation by (day, fraud pattern): days x patterns rows.
* Card precision@k: per (day, card) the best score and fraud; the driver walks the days in
  order with each day's top 2k cards (a day whose top 2k hold more than k cards caught on
  earlier days is fetched again with enough: at most k x days + k rows), then one job
  counts each day's cards caught earlier.

Does not own: reading or scoring the window, the checks of its labels (fraud_app.scoring.
evaluate), the definitions themselves (dlcore).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel, TaskContext
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from dlcore.daily_ranking import alerts_for, budget_figures
from dlcore.metrics import auc_of_rank_sum

ROW = "__row"  # the row's position in the scored frame (monotonically_increasing_id)
_S, _P, _C = "__s", "__p", "__c"


@dataclass(frozen=True)
class WindowColumns:
    """The columns of the labelled window: label (0/1 double), score, day (date), the
    optional card and fraud pattern, and ROW."""

    label: str = "label"
    score: str = "fraud_score"
    day: str = "event_date"
    card: str | None = "card_id"
    pattern: str | None = None

    @classmethod
    def of(cls, columns: list[str]) -> WindowColumns:
        """The default names, the card and the fraud pattern only when `columns` hold them."""
        return cls(
            card="card_id" if "card_id" in columns else None,
            pattern="fraud_pattern" if "fraud_pattern" in columns else None,
        )


def with_row_order(df: DataFrame) -> DataFrame:
    """`df` + ROW: its rows' order as a collect of `df` gives them (partition, then position).
    No figure depends on it (ties at a cut-off are all in, cards tie by id); the collected
    paths and the tests read the rows in this order."""
    return df.withColumn(ROW, F.monotonically_increasing_id())


# -- ROC AUC and average precision -------------------------------------------------------
_TOTALS = "pid int, lo double, positives long, rows long, twice_rank string"
_TERMS = "part double"


def _arrays(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    p = batch.column(_P).to_numpy(zero_copy_only=False).astype(np.int64)
    c = batch.column(_C).to_numpy(zero_copy_only=False).astype(np.int64)
    return p, c


def _partition_totals(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One row per range partition (scores ascending within it): its lowest score, positives,
    rows and twice its positives' rank sum counted from the partition's first row."""
    pid = TaskContext.get().partitionId()
    positives = rows = twice = 0
    lo = None
    for batch in batches:
        if not batch.num_rows:
            continue
        p, c = _arrays(batch)
        if lo is None:
            lo = float(batch.column(_S)[0].as_py())
        below = rows + np.cumsum(c) - c  # rows of lower scores in the partition
        # positions [below, below + c) share the rank (2 * below + c + 1) / 2 (1-based)
        twice += int(np.sum(p * (2 * below))) + int(np.sum(p * (c + 1)))
        positives, rows = positives + int(p.sum()), rows + int(c.sum())
    if rows:
        yield pa.RecordBatch.from_pydict(
            {"pid": [pid], "lo": [lo], "positives": [positives], "rows": [rows],
             "twice_rank": [str(twice)]},
            schema=pa.schema([("pid", pa.int32()), ("lo", pa.float64()), ("positives", pa.int64()),
                              ("rows", pa.int64()), ("twice_rank", pa.string())]),
        )  # fmt: skip


def _ap_terms(offsets: dict[int, tuple[int, int, int, int]], n_pos: int):
    """average_precision's terms of one partition: (recall - previous recall) x precision at
    each distinct score, from the top; `offsets[pid]`: positives and rows of the higher
    partitions, and the partition's own."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pid = TaskContext.get().partitionId()
        if pid not in offsets:
            return
        tp_above, rows_above, own_p, own_rows = offsets[pid]
        seen_p = seen_rows = 0
        parts = []
        for batch in batches:
            if not batch.num_rows:
                continue
            p, c = _arrays(batch)
            cum_p, cum_rows = seen_p + np.cumsum(p), seen_rows + np.cumsum(c)
            tp = tp_above + (own_p - cum_p + p)  # positives scoring >= this score
            at_or_above = rows_above + (own_rows - cum_rows + c)
            recall, previous = tp / n_pos, (tp - p) / n_pos
            parts.append(math.fsum((recall - previous) * (tp / at_or_above)))
            seen_p, seen_rows = int(cum_p[-1]), int(cum_rows[-1])
        yield pa.RecordBatch.from_pydict({"part": [math.fsum(parts)]})

    return run


def auc_and_ap(labelled: DataFrame, cols: WindowColumns, n_pos: int, rows: int) -> dict:
    """{"roc_auc", "average_precision"} of the labelled rows (finite scores, labels 0/1)."""
    if n_pos == 0 or n_pos == rows:
        nan = float("nan")
        return {"roc_auc": auc_of_rank_sum(0.0, n_pos, rows - n_pos), "average_precision": nan}
    spark = labelled.sparkSession
    parts = int(spark.conf.get("spark.sql.shuffle.partitions", "200"))
    grouped = labelled.groupBy(F.col(cols.score).cast("double").alias(_S)).agg(
        F.sum(F.col(cols.label).cast("long")).alias(_P), F.count(F.lit(1)).alias(_C)
    )
    ranged = grouped.repartitionByRange(parts, _S).sortWithinPartitions(_S)
    ranged = ranged.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        totals = sorted(ranged.mapInArrow(_partition_totals, _TOTALS).collect(), key=lambda r: r.lo)
        twice, below = 0, 0
        for t in totals:  # ascending: the partition's ranks start after `below` rows
            twice += int(t.twice_rank) + 2 * t.positives * below
            below += t.rows
        offsets, tp_above, rows_above = {}, 0, 0
        for t in reversed(totals):  # descending: AP counts from the top
            offsets[t.pid] = (tp_above, rows_above, t.positives, t.rows)
            tp_above, rows_above = tp_above + t.positives, rows_above + t.rows
        terms = ranged.mapInArrow(_ap_terms(offsets, n_pos), _TERMS).collect()
    finally:
        ranged.unpersist()
    return {
        "roc_auc": auc_of_rank_sum(twice / 2, n_pos, rows - n_pos),
        "average_precision": float(math.fsum(r.part for r in terms)),
    }


# -- per-day figures ------------------------------------------------------------------------
@dataclass(frozen=True)
class DayFigures:
    """Per day (ascending) and per fraud pattern, what the budgets and the threshold need."""

    days: list  # the labelled rows' distinct days, ascending
    rows: list[int]
    budgets: list[dict]  # per budget: {"alerts", "caught", "cutoffs"} summed over the days
    threshold: dict | None  # {"per_day": [alerts], "caught": int}
    patterns: dict[str, tuple[int, int]]  # pattern -> (frauds, frauds alerted)
    # the request's pattern_budget, all frauds: {"alerts", "caught"} summed over the days
    pattern_budget: dict | None = None
    # the request's pattern_budget, frauds without a pattern: (frauds, frauds alerted)
    unassigned: tuple[int, int] = (0, 0)


def day_figures(labelled: DataFrame, cols: WindowColumns, day_rows: dict, request) -> DayFigures:
    """One job: each day's rows ranked by score (down; tied rows share their rank: all in or
    all out of a budget), aggregated by (day, the pattern of a fraud). `request`: budgets,
    pattern_budget (or None), threshold (or None)."""
    days = sorted(day_rows)
    budgets = list(request.budgets) + (
        [request.pattern_budget] if request.pattern_budget is not None else []
    )
    quota = labelled.sparkSession.createDataFrame(
        [(d, *[alerts_for(b, day_rows[d]) for b in budgets]) for d in days],
        T.StructType([T.StructField("__d", labelled.schema[cols.day].dataType)]
                     + [T.StructField(f"__q{i}", T.LongType()) for i in range(len(budgets))]),
    )  # fmt: skip
    order = Window.partitionBy(cols.day).orderBy(F.col(cols.score).desc())
    ranked = labelled.withColumn("__rank", F.rank().over(order)).join(
        F.broadcast(quota), F.col(cols.day) == F.col("__d")
    )
    y, s = F.col(cols.label).cast("long"), F.col(cols.score)
    aggs = []
    for i in range(len(budgets)):
        hit = F.col("__rank") <= F.col(f"__q{i}")
        aggs += [F.sum(hit.cast("long")).alias(f"a{i}"), F.sum(F.when(hit, y)).alias(f"c{i}"),
                 F.min(F.when(hit, s)).alias(f"m{i}")]  # fmt: skip
    if request.threshold is not None:
        hit = s >= F.lit(float(request.threshold))
        aggs += [F.sum(hit.cast("long")).alias("ta"), F.sum(F.when(hit, y)).alias("tc")]
    aggs += [F.count(F.lit(1)).alias("n"), F.sum(y).alias("f")]
    pattern = F.when(y == 1, F.col(cols.pattern)) if cols.pattern else F.lit(None).cast("string")
    rows = ranked.groupBy(F.col(cols.day).alias("d"), pattern.alias("pat")).agg(*aggs).collect()
    return _day_summary(days, day_rows, rows, len(request.budgets), request)


def _day_summary(days, day_rows, rows, n_budgets: int, request) -> DayFigures:
    index = {d: i for i, d in enumerate(days)}
    alerts = np.zeros((len(days), n_budgets + 1), dtype=np.int64)
    caught = np.zeros((len(days), n_budgets + 1), dtype=np.int64)
    cutoff = np.full((len(days), n_budgets), np.inf)
    t_alerts, t_caught, patterns = np.zeros(len(days), np.int64), 0, {}
    unassigned = [0, 0]  # frauds (and those alerted) of the groups without a pattern
    for r in rows:
        i = index[r["d"]]
        for b in range(n_budgets + (request.pattern_budget is not None)):
            alerts[i, b] += r[f"a{b}"] or 0
            caught[i, b] += r[f"c{b}"] or 0
            if b < n_budgets and r[f"m{b}"] is not None:
                cutoff[i, b] = min(cutoff[i, b], r[f"m{b}"])
        if request.threshold is not None:
            t_alerts[i] += r["ta"] or 0
            t_caught += r["tc"] or 0
        if r["pat"] is not None and request.pattern_budget is not None:
            frauds, hit = patterns.get(r["pat"], (0, 0))  # every row of the group a fraud
            patterns[r["pat"]] = (frauds + r["n"], hit + (r[f"c{n_budgets}"] or 0))
        elif request.pattern_budget is not None:  # normals, and frauds without a pattern
            unassigned[0] += r["f"] or 0
            unassigned[1] += r[f"c{n_budgets}"] or 0
    budgets = [
        {"alerts": int(alerts[:, b].sum()), "caught": int(caught[:, b].sum()),
         "cutoffs": [float(c) for c in cutoff[:, b] if np.isfinite(c)]}
        for b in range(n_budgets)
    ]  # fmt: skip
    threshold = None if request.threshold is None else {"per_day": t_alerts, "caught": t_caught}
    pattern_budget = None if request.pattern_budget is None else {
        "alerts": int(alerts[:, n_budgets].sum()), "caught": int(caught[:, n_budgets].sum())
    }  # fmt: skip
    return DayFigures(
        days,
        [day_rows[d] for d in days],
        budgets,
        threshold,
        patterns,
        pattern_budget,
        (int(unassigned[0]), int(unassigned[1])),
    )


def budget_report(request, figures: DayFigures, frauds: int) -> list[dict[str, Any]]:
    return [
        budget_figures(
            b, f["alerts"], float(f["caught"]), float(frauds), f["cutoffs"], figures.rows
        )
        for b, f in zip(request.budgets, figures.budgets, strict=True)
    ]
