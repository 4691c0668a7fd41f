"""The label changes of candidate dates matched by id (fraud_app.features.label_changes):
one grouping of both sides (`_paired`) gives the figures of the full outer join it
replaced (`_joined_counts`, still used for a duplicated id's message), on rows that match
one to one (a label flipped, a label_time moved, a fraud taken back) and on rows that do
not (an id missing on a side, a null id, a moved timestamp, a duplicated id)."""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.features.label_changes import (
    _joined_counts,
    _paired,
    _paired_counts,
    _sides,
    label_diff,
)

pytestmark = pytest.mark.spark

SCHEMA = (
    "transaction_id string, timestamp timestamp, label int, label_time timestamp, event_date date"
)
D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
T = dt.datetime(2024, 3, 1, 10)
DAY = dt.timedelta(days=1)
OLD = [
    ("a", T, 0, None, D1),
    ("b", T + dt.timedelta(hours=1), 1, T + DAY, D1),
    ("c", T + DAY, 0, None, D2),
    ("d", T + DAY + dt.timedelta(hours=2), 1, T + 3 * DAY, D2),
]
CASES = {
    "same": OLD,
    "changed": [
        ("a", T, 1, T + 2 * DAY, D1),  # a new fraud
        OLD[1],
        ("c", T + DAY, 0, T + DAY, D2),  # label_time only
        ("d", T + DAY + dt.timedelta(hours=2), 0, None, D2),  # a fraud taken back
    ],
    "unmatched": [*OLD[:3], ("e", T + DAY, 0, None, D2)],
    "null_id": [*OLD, (None, T, 0, None, D1)],
    "moved": [OLD[0], ("b", T + dt.timedelta(hours=2), 1, T + DAY, D1), *OLD[2:]],
    "duplicated": [*OLD, ("c", T + DAY, 1, T + DAY, D2)],
}
FIGURES = ("rows", "ids", "unmatched", "moved", "changed", "first")


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_grouped_figures_are_the_joins(spark, case):
    old = spark.createDataFrame(OLD, SCHEMA)
    new = spark.createDataFrame(CASES[case], SCHEMA)
    sides = _sides(new, lambda: old, ["2024-03-01", "2024-03-02"], 86_400)
    joined, paired = _joined_counts(*sides), _paired_counts(_paired(*sides))
    assert bool(paired["duplicated"]) == (case == "duplicated")
    # a refusal (ids not one to one) names rows, ids, unmatched and moved (with a
    # duplicated id: those of the join itself); the changes are read only when matched
    shown = {"duplicated": FIGURES[:3], "same": FIGURES, "changed": FIGURES}.get(case, FIGURES[:4])
    assert {k: paired[k] for k in shown} == {k: joined[k] for k in shown}
    if case in ("same", "changed"):
        assert sorted(paired["own"]) == sorted(joined["own"])


def test_label_diff_says_what_it_said(spark):
    old = spark.createDataFrame(OLD, SCHEMA)
    days = ["2024-03-01", "2024-03-02"]

    def diff(case):
        return label_diff(spark.createDataFrame(CASES[case], SCHEMA), lambda: old, days, 86_400)

    changed = diff("changed")
    assert (changed.rows, changed.own_dates, changed.reach, changed.reach_id) == (
        3, ("2024-03-01", "2024-03-02"), dt.date(2024, 3, 3), "a",
    )  # fmt: skip
    assert diff("same").rows == 0 and diff("same").reach is None
    prefix = "their ids do not match the feature table's one to one"
    assert (
        diff("unmatched")
        == f"{prefix} (2 unmatched, 0 with another date or timestamp, 0 duplicated)"
    )
    assert (
        diff("null_id") == f"{prefix} (1 unmatched, 0 with another date or timestamp, 1 duplicated)"
    )
    assert (
        diff("moved") == f"{prefix} (0 unmatched, 1 with another date or timestamp, 0 duplicated)"
    )
    assert (
        diff("duplicated")
        == f"{prefix} (0 unmatched, 0 with another date or timestamp, 1 duplicated)"
    )
