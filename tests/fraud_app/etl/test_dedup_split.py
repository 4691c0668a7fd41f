"""fraud_app.etl.dedup: the rows of ids that no other row has skip the windows
(`_split_by_copies`); each must come out exactly as the windows classify it."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from fraud_app.etl import dedup
from fraud_app.etl.rules import DETAIL, REASON
from fraud_app.schema import CANONICAL_COLUMNS

pytestmark = pytest.mark.spark

SCHEMA = ", ".join(f"`{c.name}` {c.spark_type}" for c in CANONICAL_COLUMNS)
T0 = dt.datetime(2024, 1, 1, 10, 0, 0)


def _row(tid: str, label: int | None, minutes: int = 0, amount: float = 10.0, **other):
    values = {
        "transaction_id": tid, "card_id": "c1", "merchant_id": "m1",
        "timestamp": T0 + dt.timedelta(minutes=minutes), "amount": amount, "label": label,
        "label_time": T0 + dt.timedelta(days=3) if label is not None else None,
        "channel": "POS", **other,
    }  # fmt: skip
    return tuple(values.get(c.name) for c in CANONICAL_COLUMNS)


NEW = [
    _row("single", 0),  # the usual case: one row of its id
    _row("single-unlabelled", None),
    _row("copies", 1), _row("copies", 1),  # identical: one EXACT
    _row("versions", 0), _row("versions", 0, minutes=5),  # keep_earliest: one CONFLICT
    _row("late", 0), _row("late", None),  # an unlabelled copy of a labelled row: EXACT
    _row("published-same", 0),  # identical to its published row: EXACT
    _row("published-other", 0, amount=11.0),  # differs from its published row: CONFLICT
    _row("fills", 1),  # the label of a published unlabelled row: FILLS it
]  # fmt: skip
PUBLISHED = [
    _row("published-same", 0),
    _row("published-other", 0),
    _row("fills", None),
    _row("published-alone", 0),  # no new row shares its id
]


def _classes(df):
    cols = ["transaction_id", "amount", "timestamp", "label", dedup.PUBLISHED, dedup.CLASS,
            dedup.FILLS, REASON, DETAIL]  # fmt: skip
    return sorted((tuple(r) for r in df.select(*cols).collect()), key=repr)


@pytest.mark.parametrize("policy", ["keep_earliest", "quarantine_all"])
@pytest.mark.parametrize("append", [False, True])
def test_single_rows_get_what_the_windows_give_them(spark, policy, append):
    valid = spark.createDataFrame(NEW, SCHEMA)
    previous = spark.createDataFrame(PUBLISHED, SCHEMA) if append else None
    got = dedup.classify(valid, policy, previous)
    every = valid.withColumn(dedup.PUBLISHED, F.lit(False))
    if previous is not None:
        every = every.unionByName(previous.withColumn(dedup.PUBLISHED, F.lit(True)))
    want = dedup._classify_several(every, policy)  # the windows on every row, as before
    assert _classes(got) == _classes(want)
    by_id = {r[0]: r for r in _classes(got)}
    assert by_id["single"][5:9] == (dedup.KEEP, False, None, None)
    assert {r[5] for r in _classes(got) if r[0] == "copies"} == {dedup.KEEP, dedup.EXACT}


def test_a_null_id_is_one_id_as_in_the_windows(spark):
    """No clean row has a null id (missing_required_field), but the split must not drop
    one: an inner join on a null key matches nothing."""
    valid = spark.createDataFrame(
        [_row(None, 0), _row(None, 0), _row(None, 1), _row("a", 0)], SCHEMA
    )
    got = dedup.classify(valid, "keep_earliest")
    want = dedup._classify_several(valid.withColumn(dedup.PUBLISHED, F.lit(False)), "keep_earliest")
    assert got.count() == 4
    assert _classes(got) == _classes(want)
