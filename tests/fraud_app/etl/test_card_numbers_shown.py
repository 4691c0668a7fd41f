"""`fraud-app etl` printed, logged and kept in `_etl_report.json` the quarantine reasons'
examples whole: a conflicting duplicate's detail names the kept version's card_id, a
malformed record quotes the raw line, so a full card number reached the scheduler's log
store (stdout, stderr) and the report (helper pii37, session 37). Now they show the card
number as its first six and last four digits; the quarantine table keeps the row whole
(investigators look it up there). Real Spark, the CLI in-process."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from fraud_app.etl.delivery_checks import rekeyed_copies
from pipelines.cli import main

pytestmark = [pytest.mark.spark, pytest.mark.integration]

PAN, OTHER, THIRD = "4539871234567895", "5412751234567898", "4539879876543215"  # Luhn-valid
HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label\n"
ROWS = (
    f"T1,{PAN},M1,2024-01-01 10:00:00,10.5,0\n"
    f"T2,{OTHER},M2,2024-01-01 11:00:00,20.0,0\n"
    f"T2,{THIRD},M2,2024-01-01 11:00:00,20.0,0\n"  # conflicting duplicate: another card
    f"T3,{THIRD},M3,2024-01-01 12:00:00,30.0,0,extra,fields\n"  # malformed record
)


def test_etl_summary_log_and_report_mask_card_numbers(spark, tmp_path, capsys, caplog):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "d.csv").write_text(HEADER + ROWS)
    config = tmp_path / "config.yaml"
    root = tmp_path / "root"
    config.write_text(yaml.safe_dump({"paths": {"root": str(root)}, "etl": {"input": str(raw)},
                                      "tracking": {"enabled": False}}))  # fmt: skip
    assert main(["-c", str(config), "etl"]) == 0
    out, err = capsys.readouterr()
    report = (root / "canonical" / "_etl_report.json").read_text()
    examples = json.loads(out)["quarantine_examples"]
    assert set(examples) == {"conflicting_duplicate", "malformed_record"}, examples
    assert "card_id=453987******3215" in examples["conflicting_duplicate"]  # the kept one
    assert "453987******3215" in examples["malformed_record"]
    assert "malformed record: T3,453987******3215,M3" in caplog.text  # an INFO line
    for written in (out, err, caplog.text, report):
        assert not {PAN, OTHER, THIRD} & set(_digit_runs(written))  # was: THIRD, twice
    quarantine = spark.read.parquet(str(root / "quarantine"))
    held = " ".join(str(r.asDict()) for r in quarantine.collect())
    assert OTHER in held and THIRD in held  # the lake keeps the rows whole


def test_a_rekeyed_copy_is_named_with_its_card_number_masked(spark):
    added = spark.sql(
        f"SELECT 'T9' AS transaction_id, '{PAN}' AS card_id, 'M1' AS merchant_id, "
        "timestamp'2024-01-01 10:00:00' AS timestamp, 10.5D AS amount"
    )
    published = added.selectExpr("'T1' AS transaction_id", "card_id", "merchant_id",
                                 "timestamp", "amount")  # fmt: skip
    count, examples = rekeyed_copies(added, published, 5)
    assert count == 1
    assert examples == (
        "T1 (published) = T9 (added): card_id 453987******7895, merchant_id M1, "
        "2024-01-01 10:00:00, amount 10.5",
    )  # was card_id 4539871234567895, in an ETL WARNING


def _digit_runs(text: str) -> list[str]:
    return re.findall(r"\d{12,}", text)


@pytest.mark.parametrize("card", [PAN, "4539 8712 3456 7895"])
def test_a_malformed_record_cut_inside_a_card_number_keeps_it_whole_to_be_masked(spark, card):
    """Review37b (session 37): the detail quotes a malformed record's first 200 characters;
    a card number across that cut left its first digits (14 of 16, the rest one of ten
    numbers: the last is the Luhn check digit), which the masking, seeing no whole card
    number, showed as they were. The detail now takes the digit run to its end."""
    from fraud_app.card_masking import mask_pans
    from fraud_app.etl.rules import malformed_rule

    for before in range(190, 200):  # the cut after 2 to 11 of the card's characters
        record = "T3," + "x" * (before - 3) + f",{card},M3,2024-01-01 12:00:00,30.0,0,extra"
        df = spark.createDataFrame([(record,)], "corrupt string")
        detail = df.select(malformed_rule("corrupt").detail()).first()[0]
        shown = mask_pans(detail)
        assert detail.startswith("malformed record: T3,xxx") and len(detail) <= 18 + 200 + 32
        assert not re.search(r"\d{7,}", shown.replace(" ", "")), (before, shown[-40:])
