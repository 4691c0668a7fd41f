"""An export's columns that no canonical column reads (a Sparkov export's `first`, `city`,
`job`, ...; IEEE-CIS's `card4`, `P_emaildomain`) are not published: the ETL names them in
one INFO line and its report's `unread_columns` (they were dropped without a word). A column
spelled like an unmapped optional canonical column but for case, spaces, '_' or '-' (IBM
TabFormer's `MCC`, an export's `Merchant_ID`) was not read either: that canonical column was
published null on every row, named only later by the features' skip as `all null`. The ETL
now names it in a WARNING with the mapping to set (session 52)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fraud_app.errors import SchemaError
from fraud_app.etl.columns import resolve_sources, shown_names, unread_columns
from fraud_app.etl.config import EtlSection
from tests.fraud_app.etl.test_hostile_inputs import _rows, _run, assert_accounted

pytestmark = pytest.mark.spark

CSV = (
    ",trans_num,cc_num,Merchant_ID,unix_time,amt,is_fraud,MCC,city\n"
    "0,t1,4613314721966,m1,2019-01-01 00:00:18,4.97,0,5812,Moravian Falls\n"
    '1,t2,3526826139003047,m2,2019-01-01 00:00:44,107.23,1,5411,"Orient, WA"\n'
)
MAPPED = {"transaction_id": "trans_num", "card_id": "cc_num", "timestamp": "unix_time",
          "amount": "amt", "label": "is_fraud"}  # fmt: skip


def test_unread_columns_are_named_and_near_names_warned(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="fraud_app.etl.pipeline"):
        result = _run(spark, tmp_path, {"a.csv": CSV}, columns=MAPPED)
    assert_accounted(spark, result, 2)
    rows = _rows(spark, result)
    assert rows["t2"]["card_id"] == "3526826139003047"  # 16 digits, as written
    assert {r["mcc"] for r in rows.values()} == {None}  # not read: named below
    assert result.unread_columns == ("_c0", "Merchant_ID", "MCC", "city")
    report = json.loads(Path(result.report_path).read_text())
    assert report["unread_columns"] == ["_c0", "Merchant_ID", "MCC", "city"]
    info = [r.getMessage() for r in caplog.records if "are not read" in r.getMessage()]
    assert len(info) == 1, caplog.text
    assert "4 of its 9 column(s) are not read" in info[0]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    said = [m for m in warned if "published null on every row" in m]
    assert len(said) == 1, caplog.text
    assert "column 'Merchant_ID', column 'MCC' not read" in said[0]
    assert "so merchant_id and mcc are published null" in said[0]
    # the mapping as YAML reads it back (JSON text: a name with a quote, a backslash or a
    # line break stays that name; a Python repr did not, review52a)
    assert 'Map it: etl.columns.merchant_id: "Merchant_ID", etl.columns.mcc: "MCC"' in said[0]


def test_every_column_read_names_nothing(spark, tmp_path, caplog) -> None:
    csv = "transaction_id,card_id,timestamp,amount,label\nt1,c1,2019-01-01 00:00:18,4.97,0\n"
    with caplog.at_level(logging.INFO, logger="fraud_app.etl.pipeline"):
        result = _run(spark, tmp_path, {"a.csv": csv})
    assert result.unread_columns == ()
    assert "are not read" not in caplog.text


def test_an_export_without_a_transaction_id_is_told_what_to_add(spark, tmp_path) -> None:
    # PaySim has no transaction id: the error said only "map it under etl.columns"
    paysim = spark.createDataFrame(
        [(1, "PAYMENT", 9839.64, "C1231006815", "M1979787155", 0)],
        "step int, type string, amount double, nameOrig string, nameDest string, isFraud int",
    )
    cfg = EtlSection(columns={"card_id": "nameOrig", "timestamp": "step", "label": "isFraud"})
    with pytest.raises(SchemaError, match=r"An export without a transaction id \(PaySim has "
                       r"none\) needs one added before the ETL"):  # fmt: skip
        resolve_sources(paysim, cfg, "paysim.csv")
    mapped = EtlSection(columns={**cfg.columns, "transaction_id": "txn"})
    with pytest.raises(SchemaError) as typo:  # mapped to a name the input lacks: no hint
        resolve_sources(paysim, mapped, "paysim.csv")
    assert "PaySim" not in str(typo.value)


def test_a_required_column_spelled_with_spaces_or_without_underscore_is_pointed_out(
    spark,
) -> None:
    # review52a: only case and blanks at the ends were compared, so `Card ID` and `CardID`
    # for card_id got no hint while the optional columns' WARNING named `Merchant ID`
    df = spark.createDataFrame([("t1", "c1", "2024-01-01", 1.0, 0)],
                               "`Transaction ID` string, CardID string, timestamp string, "
                               "amount double, label int")  # fmt: skip
    with pytest.raises(SchemaError) as missing:
        resolve_sources(df, EtlSection(), "x.csv")
    assert (
        "Found 'Transaction ID' for 'transaction_id', 'CardID' for 'card_id': names are "
        "matched exactly (case, spaces, '_' and '-' count)"
    ) in str(missing.value)
    # it has a transaction id: not told to add one, as an export without any (PaySim)
    assert "PaySim" not in str(missing.value)


def test_a_long_list_of_unread_columns_is_cut_in_the_log() -> None:
    # review52a: the INFO line named every unread column, thousands for a wide export
    names = [f"V{i}" for i in range(1, 340)]
    line = shown_names(names)
    assert line.startswith("['V1', 'V2', ") and "'V50']" in line and "'V51'" not in line
    assert line.endswith(" and 289 more (every one in the ETL report)")
    assert shown_names(["a\nb", "c"]) == "['a\\nb', 'c']"  # a line break stays escaped


def test_a_mapped_column_the_input_lacks_is_not_called_unmapped() -> None:
    # review52a: mcc mapped to a name the input lacks, the input holding `MCC`: the WARNING
    # said mcc was not under etl.columns ("Map it: etl.columns.mcc: 'MCC'"), beside the
    # mapped-absent WARNING that names the mapping; now only that one speaks
    sources = {"transaction_id": "t", "card_id": "c", "mcc": None, "merchant_id": None}
    columns = ["t", "c", "MCC", "Merchant_ID"]
    unread, near = unread_columns(columns, sources, None, frozenset({"mcc"}))
    assert unread == ["MCC", "Merchant_ID"]
    assert near == {"merchant_id": "Merchant_ID"}


def test_a_required_column_mapped_elsewhere_but_present_under_its_own_name_is_pointed_out(
    spark,
) -> None:
    # walk55: `fraud-app init`'s example mapping (`amount: amt`) left in place over an
    # export's `Amount`: the error named 'amt' and listed the columns, no hint to 'Amount'
    df = spark.createDataFrame([("t1", "c1", "2024-01-01", 1.0, "x")],
                               "transaction_id string, card_id string, timestamp string, "
                               "Amount double, amt_code string")  # fmt: skip
    with pytest.raises(SchemaError) as missing:
        resolve_sources(df, EtlSection(columns={"amount": "amt"}), "x.csv")
    assert "Found 'Amount' for amount (etl.columns maps it to 'amt'): names are" in str(
        missing.value
    )
    # a column another mapping reads is no candidate
    taken = EtlSection(columns={"amount": "amt", "mcc": "Amount"})
    with pytest.raises(SchemaError) as other:
        resolve_sources(df, taken, "x.csv")
    assert "Found" not in str(other.value)
