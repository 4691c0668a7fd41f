"""`fraud-app labels` measures the staged partitions against the published ones in one
pass (fraud_app.etl.labels_apply._measured, session 44): the labels each side holds and
the published labels the staged rows changed must be what the two counts and the left
join by transaction_id gave (duplicate ids on either side, null ids, null labels, ids on
one side only)."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from fraud_app.etl.labels_apply import CANONICAL_DDL, _measured, _partitions
from fraud_app.schema import CANONICAL_COLUMNS, PARTITION_COLUMN

pytestmark = pytest.mark.spark

DAYS = ("2024-01-05", "2024-01-06")
T = {d: dt.datetime.fromisoformat(f"{d} 10:00:00") for d in (*DAYS, "2024-01-07")}


def _rows(pairs, day: str = DAYS[0]):
    """Canonical rows (transaction_id, label) dated `day`."""
    out = []
    for tid, label in pairs:
        values = {"transaction_id": tid, "card_id": "c1", "timestamp": T[day], "amount": 1.0,
                  "label": label, PARTITION_COLUMN: dt.date.fromisoformat(day)}  # fmt: skip
        out.append((*[values.get(c.name) for c in CANONICAL_COLUMNS], values[PARTITION_COLUMN]))
    return out


PUBLISHED = [
    *_rows([("a", 0), ("b", None), ("c", 1), ("d", 0), ("d", 1), ("e", 1), (None, 1), (None, 0)]),
    *_rows([("f", 0), ("g", 1)], DAYS[1]),
    *_rows([("h", 1)], "2024-01-07"),  # a date not measured
]
STAGED = [
    # a: 0 -> 1; b filled; c same; d twice, each against 0 and 1; e gone; None ids: no match
    *_rows([("a", 1), ("b", 1), ("c", 1), ("d", 1), ("d", None), (None, 1), ("x", 1)]),
    *_rows([("f", 0), ("g", None), ("g", 1)], DAYS[1]),
    *_rows([("h", 0)], "2024-01-07"),
]


def _joined(spark, staged: str, table: str, dates) -> tuple[int, int, int]:
    """The base's two counts and its left join (labels_apply before session 44)."""
    new_part, old_part = _partitions(spark, staged, dates), _partitions(spark, table, dates)
    labels = [p.filter(F.col("label").isNotNull()).count() for p in (new_part, old_part)]
    old = old_part.filter(F.col("label").isNotNull()).select("transaction_id", "label")
    new = new_part.select("transaction_id", F.col("label").alias("__n"))
    joined = old.join(new, "transaction_id", "left")
    return labels[0], labels[1], joined.filter(~F.col("label").eqNullSafe(F.col("__n"))).count()


@pytest.mark.parametrize("dates", [list(DAYS), [DAYS[1]], []])
def test_one_pass_measures_what_the_counts_and_the_join_did(spark, tmp_path, dates):
    paths = {}
    for name, rows in (("table", PUBLISHED), ("staged", STAGED)):
        paths[name] = str(tmp_path / name)
        spark.createDataFrame(rows, CANONICAL_DDL + f", `{PARTITION_COLUMN}` date").write.partitionBy(
            PARTITION_COLUMN).parquet(paths[name])  # fmt: skip
    got = _measured(spark, paths["staged"], paths["table"], dates)
    if dates:
        assert got == _joined(spark, paths["staged"], paths["table"], dates)
    else:
        assert got == (0, 0, 0)
    if dates == list(DAYS):
        # labels: staged 6 + 2, published 7 + 2; changed: a (0 -> 1), d's 0 against both
        # staged d and its 1 against the null one (3), e (no staged row), the null ids (2:
        # they match nothing), g's 1 against its null copy = 1 + 3 + 1 + 2 + 1
        assert got == (8, 9, 8)
