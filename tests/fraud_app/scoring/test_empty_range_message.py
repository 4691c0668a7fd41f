"""`score` over dates without transactions: the refusal says whether they lie outside the
canonical table's dates or in a gap inside them (session 39, helper backfill39: a range
inside the table's span was told to "pick dates inside that range")."""

from __future__ import annotations

import datetime as dt

from fraud_app.scoring.job import _no_rows_in_range

D = dt.date


def test_a_gap_inside_the_table_is_named_as_a_gap():
    text = _no_rows_in_range("/t", D(2025, 3, 4), D(2025, 3, 5), D(2025, 3, 1), D(2025, 3, 9))
    assert "it holds 2025-03-01..2025-03-09, with no rows on these dates (a gap" in text
    assert "pick dates inside that range" not in text


def test_dates_outside_the_table_are_told_its_range():
    text = _no_rows_in_range("/t", D(2025, 4, 1), D(2025, 4, 2), D(2025, 3, 1), D(2025, 3, 9))
    assert "(it holds 2025-03-01..2025-03-09): pick dates inside that range" in text
    # partly outside: still outside
    text = _no_rows_in_range("/t", D(2025, 2, 27), D(2025, 3, 2), D(2025, 3, 1), D(2025, 3, 9))
    assert "pick dates inside that range" in text


def test_an_empty_table_says_so():
    text = _no_rows_in_range("/t", D(2025, 4, 1), D(2025, 4, 2), None, None)
    assert text.endswith("(it holds none): run `fraud-app etl` first")
