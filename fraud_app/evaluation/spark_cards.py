"""Card precision@k per day (dlcore.daily_ranking.card_precision_at_k) on the executors.

Each day's cards are ranked there by their best score of the day (ties: the lower card id,
a null id last, as dlcore's card order: never the rows' order); the driver receives each
day's top 2k (card, fraud) and walks the days in order, leaving out cards caught on earlier
days. A day whose top 2k hold more than k cards caught before is fetched again with k +
(cards caught so far) rows, which always suffices. The number of each day's reviewable
cards (the day's cards less those caught before) comes from one join of the caught cards
(at most k a day) with the (day, card) pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraud_app.evaluation.spark_ranking import WindowColumns

FIRST_FETCH = 2  # x k cards of each day in the first collect


def _ranked_cards(labelled: DataFrame, cols: WindowColumns) -> DataFrame:
    day, card = F.col(cols.day), F.col(cols.card)
    per_card = labelled.groupBy(day.alias("d"), card.alias("card")).agg(
        F.max(cols.score).alias("best"),
        F.max(F.col(cols.label).cast("double")).alias("fraud"),
    )
    order = Window.partitionBy("d").orderBy(F.col("best").desc(), F.col("card").asc_nulls_last())
    return per_card.withColumn("rank", F.row_number().over(order))


def _top(ranked: DataFrame, limit: int, day=None) -> dict[Any, list[tuple[Any, float]]]:
    rows = ranked.where(F.col("rank") <= limit)
    if day is not None:
        rows = rows.where(F.col("d") == F.lit(day))
    out: dict[Any, list] = {}
    for r in sorted(rows.select("d", "rank", "card", "fraud").collect(), key=lambda r: r[:2]):
        out.setdefault(r["d"], []).append((r["card"], r["fraud"]))
    return out


def card_precision(labelled: DataFrame, cols: WindowColumns, k: int, days: list) -> dict:
    """{"k", "per_day": [{"date", "precision", "cards"}], "mean"} as card_precision_at_k."""
    ranked = _ranked_cards(labelled, cols).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {r[0]: r[1] for r in ranked.groupBy("d").count().collect()}
        top = _top(ranked, FIRST_FETCH * k)
        caught: dict[Any, Any] = {}
        precision = []
        for d in days:
            kept = [c for c in top.get(d, []) if c[0] not in caught]
            if len(kept) < k and len(top.get(d, [])) < counts.get(d, 0):
                fetched = _top(ranked, k + len(caught), d).get(d, [])
                kept = [c for c in fetched if c[0] not in caught]
            hits = [card for card, fraud in kept[:k] if fraud > 0.5]
            caught.update((card, d) for card in hits)
            precision.append(len(hits) / k)
        before = _caught_before(ranked, caught, labelled.schema[cols.card].dataType,
                                labelled.schema[cols.day].dataType)  # fmt: skip
    finally:
        ranked.unpersist()
    per_day = [
        {"date": str(d), "precision": p, "cards": int(counts.get(d, 0) - before.get(d, 0))}
        for d, p in zip(days, precision, strict=True)
    ]
    return {
        "k": int(k),
        "per_day": per_day,
        "mean": float(np.mean(precision)) if precision else float("nan"),
    }


def _caught_before(ranked: DataFrame, caught: dict, card_type, day_type) -> dict:
    """Per day, its cards caught on an earlier day (left out of its reviewable cards)."""
    if not caught:
        return {}
    schema = T.StructType([T.StructField("c", card_type), T.StructField("cd", day_type)])
    found = ranked.sparkSession.createDataFrame(list(caught.items()), schema)
    joined = ranked.join(F.broadcast(found), F.col("card").eqNullSafe(F.col("c")))
    later = joined.where(F.col("d") > F.col("cd")).groupBy("d").count()
    return {r[0]: r[1] for r in later.collect()}
