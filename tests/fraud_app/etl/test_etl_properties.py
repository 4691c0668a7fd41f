"""Property test: for any mix of good and bad raw rows, each row gets the reason a plain
Python oracle expects, and input = output + quarantine + duplicates.

Spark is slow per job, so each example is one DataFrame of many rows and there are
few examples."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_app.etl.config import EtlSection
from fraud_app.etl.pipeline import annotate_rows, deduplicate, quarantine_rows, valid_rows

pytestmark = pytest.mark.spark

FMT = "%Y-%m-%d %H:%M:%S"
COLUMNS = ("transaction_id", "card_id", "merchant_id", "timestamp", "amount", "label", "label_time", "channel")
POOLS = {
    "transaction_id": st.sampled_from(["a", "b", "c", "d", "", " ", None]),
    "card_id": st.sampled_from(["c1", "c2", "", None]),
    "merchant_id": st.sampled_from(["m1", None]),
    "timestamp": st.sampled_from(
        ["2024-01-05 10:00:00", "2024-01-06 23:59:59", "bad", "2024-13-01 00:00:00", "", None]
    ),
    "amount": st.one_of(
        st.sampled_from(["1.5", " 3 ", "-2", "0", "NaN", "Infinity", "x", "1,5", "", None]),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    ),
    "label": st.sampled_from(["0", "1", "1.0", "true", "no", "2", "x", "", None]),
    "label_time": st.sampled_from([None, "", "2024-02-01 00:00:00", "2024-01-01 00:00:00", "zzz"]),
    "channel": st.sampled_from(["POS", "ecom", " ATM ", "MOBILE", "", None]),
}
ROWS = st.lists(st.fixed_dictionaries(POOLS), min_size=1, max_size=60)


def _blank(v: str | None) -> bool:
    return v is None or not v.strip()


def _ts(v: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(v.strip(), FMT) if not _blank(v) else None
    except ValueError:
        return None


def expected_reason(row: dict) -> str | None:
    """The rules of fraud_app.etl.rules, written out in Python for these value pools."""
    required = ("transaction_id", "card_id", "merchant_id", "timestamp", "amount", "label")
    if any(_blank(row[c]) for c in required):
        return "missing_required_field"
    ts = _ts(row["timestamp"])
    if ts is None:
        return "unparseable_timestamp"
    try:
        amount = float(row["amount"].strip())
    except ValueError:
        return "non_numeric_amount"
    if amount != amount or abs(amount) == float("inf"):
        return "non_finite_amount"
    if amount <= 0:
        return "non_positive_amount"
    label = row["label"].strip().lower()
    if label not in ("0", "1", "1.0", "true", "no"):
        return "invalid_label"
    if not _blank(row["channel"]) and row["channel"].strip().upper() not in ("POS", "ECOM", "ATM"):
        return "unknown_channel"
    if not _blank(row["label_time"]):
        label_time = _ts(row["label_time"])
        if label_time is None:
            return "unparseable_label_time"
        if label_time < ts:
            return "label_time_before_timestamp"
    return None


@settings(max_examples=6, deadline=None)
@given(rows=ROWS)
def test_reasons_match_the_oracle_and_counts_add_up(spark, rows: list[dict]) -> None:
    raw = spark.createDataFrame([tuple(r[c] for c in COLUMNS) for r in rows], ", ".join(f"{c} string" for c in COLUMNS))
    annotated = annotate_rows(raw, EtlSection(timestamp_format="yyyy-MM-dd HH:mm:ss"), "hypothesis rows")
    valid = valid_rows(annotated).collect()
    quarantined = quarantine_rows(annotated, list(COLUMNS)).collect()
    kept = deduplicate(valid_rows(annotated)).count()

    expected = Counter((tuple(r[c] for c in COLUMNS), expected_reason(r)) for r in rows)
    got = Counter((tuple(q[c] for c in COLUMNS), q["reason"]) for q in quarantined)
    assert got == Counter({k: n for k, n in expected.items() if k[1] is not None})
    assert len(valid) == sum(n for k, n in expected.items() if k[1] is None)
    duplicates = len(valid) - len({v["transaction_id"] for v in valid})
    assert len(rows) == kept + len(quarantined) + duplicates
