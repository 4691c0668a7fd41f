"""A CSV quote opened and not closed (`"5.0,0`) reads every line after it into one record,
up to the next quote (etl.csv_multiline, the default): 9 transactions were one
`malformed_record` whose detail showed its first 200 characters, and the input count said
2 records for 10 lines without a word (session 51, probe51c). The detail now says how many
lines the record spans and why; the lines are in its raw values, as before."""

from __future__ import annotations

import json

import pytest

from tests.fraud_app.etl.test_hostile_inputs import _quarantine, _rows, _run, assert_accounted

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,timestamp,amount,label"


def test_a_record_run_on_by_an_open_quote_says_how_many_lines_it_holds(spark, tmp_path) -> None:
    lines = ["t1,c1,2024-01-05 10:00:00,1.5,0", 't2,c1,2024-01-05 10:00:00,"2.5,0']
    lines += [f"t{i},c1,2024-01-05 10:00:00,1.5,0" for i in range(3, 11)]
    result = _run(spark, tmp_path, {"a.csv": "\n".join([HEADER, *lines]) + "\n"})
    assert_accounted(spark, result, 2)  # Spark's records: t1, and t2 holding t3..t10
    assert sorted(_rows(spark, result)) == ["t1"]
    reason, detail = _quarantine(spark, result)["t2"]
    assert reason == "malformed_record"
    assert detail.startswith(
        "malformed record spanning 9 lines (a quote opened and not closed reads the lines "
        "after it into one record, up to the next quote: they are not counted as records of "
        "their own; close the quote, or set etl.csv_multiline: false if the export writes no "
        'line break inside a field): t2,c1,2024-01-05 10:00:00,"2.5,0\nt3,'
    ), detail
    assert detail == result.quarantine_examples["malformed_record"]
    # a malformed record on one line reads as before
    lines = ["t1,c1,2024-01-05 10:00:00,1.5,0", "t2,c1,2024-01-05 10:00:00,2.5,0,extra"]
    result = _run(spark, tmp_path / "one", {"a.csv": "\n".join([HEADER, *lines]) + "\n"})
    assert _quarantine(spark, result)["t2"][1] == (
        "malformed record: t2,c1,2024-01-05 10:00:00,2.5,0,extra"
    )


def test_a_json_document_cut_short_is_not_said_to_be_a_csv_quote(spark, tmp_path) -> None:
    # review51c: a pretty-printed JSON file read whole (no line is an object) that does not
    # parse is one malformed record of all its lines; its detail told the user to close a
    # CSV quote or set etl.csv_multiline, which a JSON input has neither of
    good = [{"transaction_id": t, "card_id": "c1", "timestamp": "2024-01-05T10:00:00Z",
             "amount": "1.5", "label": "0"} for t in ("t1", "t2")]  # fmt: skip
    cut = json.dumps([{**good[0], "transaction_id": "t3"}], indent=2)[:-12]
    files = {"a.json": json.dumps(good, indent=2), "b.json": cut}
    result = _run(spark, tmp_path, files)
    assert_accounted(spark, result, 3)
    assert sorted(_rows(spark, result)) == ["t1", "t2"]
    detail = result.quarantine_examples["malformed_record"]
    lines = cut.count("\n") + 1
    assert detail.startswith(f'malformed record spanning {lines} lines: [\n  {{\n    "tr'), detail
    assert "quote" not in detail and "csv_multiline" not in detail
