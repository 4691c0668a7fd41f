"""A failed check's examples (GX's `partial_unexpected_index_list` / `_list`: the failing
rows' key and value) went into the validation report, its HTML, the log line and the
training run's MLflow artifacts as the table holds them: a key column that is a card
number (validation.features.key_column: card_id) wrote it whole (helper pii37, session
37). Now the examples show card numbers masked (first six / last four). Real Spark and
Great Expectations."""

from __future__ import annotations

import pytest

from fraud_app.validation.runner import run_checks
from fraud_app.validation.suites import Check

pytestmark = pytest.mark.spark

PAN = "4539871234567895"  # Luhn-valid


def test_failed_check_examples_show_card_numbers_masked(spark):
    df = spark.createDataFrame(
        [(PAN, 5.0e6, "T1"), ("5412751234567898", 10.0, "T2")],
        "card_id string, amount double, transaction_id string",
    )
    checks = [
        Check("amount:range", "ExpectColumnValuesToBeBetween", "error", "amount",
              {"min_value": 0, "max_value": 1e6}),
        Check("transaction_id:in_set", "ExpectColumnValuesToBeInSet", "warning",
              "transaction_id", {"value_set": ["T2"]}),
    ]  # fmt: skip
    amount, txn = run_checks(df, checks, "features", "card_id", 3)
    assert amount.examples == ({"card_id": "453987******7895", "amount": 5.0e6},)  # was PAN
    assert txn.examples == ({"card_id": "453987******7895", "transaction_id": "T1"},)
