"""An optional column mapped under etl.columns to a name the export lacks (a typo such as
`merchant_id: Merchnt`, or `fraud-app init`'s example mapping left in place) was published
null without a word from the ETL: the merchant features were then skipped as if the export
had no merchants. The ETL names each such mapping and the columns the input has."""

from __future__ import annotations

import logging

import pytest

from tests.fraud_app.etl.test_hostile_inputs import _rows, _run, assert_accounted

pytestmark = pytest.mark.spark

CSV = (
    "TxnRef,CardNo,EventTime,Amt,Fraud,Merchant\n"
    "t1,c1,2025-03-01 10:00:00,1.5,0,Café Zürich\n"
    't2,c2,2025-03-01 11:00:00,2.5,1,"Joe\'s ""Best"", Diner"\n'
)
MAPPED = {"transaction_id": "TxnRef", "card_id": "CardNo", "timestamp": "EventTime",
          "amount": "Amt", "label": "Fraud"}  # fmt: skip


def test_a_mapped_optional_column_the_input_lacks_is_named(spark, tmp_path, caplog) -> None:
    columns = {**MAPPED, "merchant_id": "Merchnt", "label_time": "label_ts"}
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.pipeline"):
        result = _run(spark, tmp_path, {"a.csv": CSV}, columns=columns)
    assert_accounted(spark, result, 2)
    assert {r["merchant_id"] for r in _rows(spark, result).values()} == {None}
    said = [r.getMessage() for r in caplog.records if "lacks the column(s)" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert "etl.columns maps merchant_id -> 'Merchnt', label_time -> 'label_ts'" in said[0]
    assert (
        "Columns present: ['Amt', 'CardNo', 'EventTime', 'Fraud', 'Merchant', 'TxnRef']" in said[0]
    )


def test_mapped_columns_that_are_there_say_nothing(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.pipeline"):
        result = _run(spark, tmp_path, {"a.csv": CSV},
                      columns={**MAPPED, "merchant_id": "Merchant"})  # fmt: skip
    assert not [r for r in caplog.records if "lacks the column(s)" in r.getMessage()]
    merchants = {i: r["merchant_id"] for i, r in _rows(spark, result).items()}
    assert merchants == {"t1": "Café Zürich", "t2": 'Joe\'s "Best", Diner'}


def test_a_mapped_column_present_under_the_canonical_name_but_for_case_is_named(
    spark, tmp_path, caplog
) -> None:
    # walk55: init's example `channel: entry_mode` left in place over an export's
    # `Channel`: the WARNING listed the columns present but did not point at 'Channel'
    csv = "TxnRef,CardNo,EventTime,Amt,Fraud,Channel\nt1,c1,2025-03-01 10:00:00,1.5,0,POS\n"
    columns = {**MAPPED, "channel": "entry_mode", "merchant_id": "Merchnt"}
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.pipeline"):
        _run(spark, tmp_path, {"a.csv": csv}, columns=columns)
    said = [r.getMessage() for r in caplog.records if "names are matched exactly" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert "holds 'Channel' for channel" in said[0]
    assert 'Map it: etl.columns.channel: "Channel"' in said[0]
    assert "merchant_id" not in said[0]


def test_the_reading_line_names_the_exports_columns_only(spark, tmp_path, caplog) -> None:
    # walk55: `reading csv input ... with columns [..., '_corrupt_record']` named Spark's
    # own column beside the export's, a column no user's file has
    with caplog.at_level(logging.INFO, logger="fraud_app.etl.reader"):
        _run(spark, tmp_path, {"a.csv": CSV}, columns=MAPPED)
    said = [r.getMessage() for r in caplog.records if "with columns" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert said[0].endswith(
        "with columns ['TxnRef', 'CardNo', 'EventTime', 'Amt', 'Fraud', 'Merchant']"
    )
