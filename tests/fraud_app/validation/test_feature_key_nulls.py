"""A feature table's rows without their key passed `validate --table features` (probe51d).

GX's ExpectColumnValuesToBeUnique reads only the rows that hold a value, and the key
column is left out of the numeric columns' not-null checks, so any number of rows whose
transaction_id is null (all alike: duplicates of each other) passed the suite. The key is
now checked in every row (`<key>:not_null`, an error)."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ValidationFailedError
from fraud_app.validation.suites import feature_checks
from fraud_app.validation.validate import validate_features

FEATURES = "transaction_id string, card_count_24h double, days_since_last double, label int"


@pytest.mark.spark
def test_rows_without_their_key_fail_the_feature_suite(spark, tmp_path) -> None:
    rows = [(None, 1.0, 2.0, 0), (None, 1.0, 2.0, 0), ("t3", 2.0, 3.0, 1), ("t4", 2.0, 5.0, 0)]
    cfg = load_config(None, {"paths.root": str(tmp_path)})
    with pytest.raises(ValidationFailedError) as info:
        validate_features(spark, spark.createDataFrame(rows, FEATURES), cfg)
    message = str(info.value)
    assert "1 error-severity check(s) failed" in message
    assert "transaction_id:not_null (ExpectColumnValuesToNotBeNull on column 'transaction_id'):" \
           " observed 2 unexpected row(s) (50.00%)" in message  # fmt: skip
    assert "setting: validation.features.key_column" in message
    # a table whose every row holds its key passes, with the check counted
    rows[:2] = [("t1", 1.0, 2.0, 0), ("t2", 1.0, 2.0, 0)]
    report = validate_features(spark, spark.createDataFrame(rows, FEATURES), cfg)
    [check] = [r for r in report.results if r.name == "transaction_id:not_null"]
    assert report.success and check.success and check.unexpected_count == 0


def test_a_key_given_its_own_column_spec_keeps_that_specs_checks() -> None:
    cfg = load_config(None, {"validation.features.key_column": "n",
                             "validation.features.columns": {"n": {"min": 0}}})  # fmt: skip
    names = [c.name for c in feature_checks({"n": "bigint", "x": "double"},
                                            cfg.validation.features)]  # fmt: skip
    assert names.count("n:not_null") == 1 and "n:unique" in names and "n:range" in names
