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


def test_a_key_given_a_nullable_column_spec_is_still_checked_in_every_row() -> None:
    # `columns: {transaction_id: {nullable: true}}` dropped `<key>:not_null` (review51d):
    # the nullable spec checks only that some row holds a key
    cfg = load_config(None, {"validation.features.columns":
                             {"transaction_id": {"nullable": True}}})  # fmt: skip
    names = [c.name for c in feature_checks({"transaction_id": "bigint", "x": "double"},
                                            cfg.validation.features)]  # fmt: skip
    assert "transaction_id:not_null" in names and "transaction_id:unique" in names


# a feature column of another type than a number was in no check (probe51d): the feature
# suite checked numeric columns only, so a feature written as text, as booleans null in
# every row, or as decimals null in every row passed
TYPED = ("transaction_id string, card_count_24h string, is_cross_border boolean, "
         "card_amount_sum_24h decimal(10,2), label int")  # fmt: skip


@pytest.mark.spark
def test_a_feature_column_that_is_not_a_number_fails_the_feature_suite(spark, tmp_path) -> None:
    rows = [(f"t{i}", "1.5", None, None, 0) for i in range(4)]
    cfg = load_config(None, {"paths.root": str(tmp_path)})
    with pytest.raises(ValidationFailedError) as info:
        validate_features(spark, spark.createDataFrame(rows, TYPED), cfg)
    message = str(info.value)
    assert "3 error-severity check(s) failed" in message, message
    assert "card_count_24h:type (ExpectColumnValuesToBeInTypeList on column 'card_count_24h')" \
           in message and "expected a number (string is not)" in message  # fmt: skip
    assert "is_cross_border:type" in message and "expected a number (boolean is not)" in message
    # a decimal is a number: its values are checked as a double's are (null in every row)
    assert "card_amount_sum_24h:not_null" in message and "4 unexpected row(s)" in message


def test_only_the_specs_features_are_type_checked() -> None:
    cfg = load_config(None)
    dtypes = {"transaction_id": "string", "f": "string", "card_id": "string", "x": "double",
              "label": "string"}  # fmt: skip
    names = {c.name for c in feature_checks(dtypes, cfg.validation.features, ["f", "x", "label"])}
    # not the key, the other columns of the table, nor an excluded column
    assert names == {"table:row_count", "transaction_id:unique", "transaction_id:not_null",
                     "f:type", "x:not_null", "x:finite"}  # fmt: skip
