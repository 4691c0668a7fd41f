"""JSON Lines: a line holding two records (two files joined without a line break between
them, `{...}{...}`, `{...}, {...}`) published the first and dropped the second without a
word: not in the table, not in the quarantine, not in the input count (session 51,
probe51c). Such a line is refused before any row is read, naming the file and the line;
an array written one object per line (`[`, `{...},`, `]`) is read as before."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.etl.json_lines import several_values
from tests.fraud_app.etl.test_hostile_inputs import _rows, _run, assert_accounted

pytestmark = pytest.mark.spark


def _record(tid: str) -> str:
    return json.dumps({"transaction_id": tid, "card_id": "c1", "timestamp": "2024-01-05T10:00:00Z",
                       "amount": "1.5", "label": "0"})  # fmt: skip


def test_a_line_of_two_records_is_refused_not_half_read(spark, tmp_path) -> None:
    joined = _record("t6") + _record("t7")  # `cat a.jsonl b.jsonl`, a.jsonl without a last \n
    files = {"a.jsonl": f"{_record('t1')}\n{joined}\n{_record('t8')}\n"}
    with pytest.raises(SchemaError) as err:  # was: t1, t6, t8 published, t7 nowhere
        _run(spark, tmp_path, files)
    said = str(err.value)
    assert "(json): 1 line(s) hold more than one JSON value, or text after the first" in said
    assert f"a.jsonl: '{joined[:120]}" in said and "would be lost" in said
    assert not (tmp_path / "work" / "canonical").exists()
    # the line split in two: every record read and accounted for
    files = {"a.jsonl": f"{_record('t1')}\n{_record('t6')}\n{_record('t7')}\n{_record('t8')}\n"}
    result = _run(spark, tmp_path, files)
    assert_accounted(spark, result, 4)
    assert sorted(_rows(spark, result)) == ["t1", "t6", "t7", "t8"]


@pytest.mark.parametrize(
    "line, several",
    [
        ('{"a": "1"}', False),
        ('{"a": "1"},', False),  # an array written one object per line: `[`, `{...},`, `]`
        ("[", False),
        ("]", False),
        ('[{"a": "1"}, {"a": "2"}]', False),  # one array of records: the reader reads both
        ("\ufeff" + '{"a": "1"}', False),  # a BOM before the first line
        ('{"a": "1"}   ', False),
        ("", False),
        ("   ", False),
        ('{"a": 9', False),  # cut short: the reader's malformed_record, as before
        ('"a": "1",', False),  # a line of a pretty-printed object: malformed_record
        ("null", False),
        ('{"a": "1"}{"a": "2"}', True),  # the second record was dropped
        ('{"a": "1"}, {"a": "2"}', True),
        ('[{"a": "1"}][{"a": "2"}]', True),
        ('{"a": "1"} xyz', True),  # text after a record, ignored
        ('{"a": {"b": "1"}, "c": "2"}', False),  # a nested object: parsed, one value
        ('{"a": "}x"}', False),  # a bracket in a string: parsed, one value
        ('{"a": "1"}}', False),  # a bracket after a record: no record in it
        # review51c: a raw tab in a string is the reader's malformed_record (get_json_object
        # read it, and the run stopped as if the line held two values)
        ('{"a": "x\ty", "m": {"b": "1"}, "c": "2"}', False),
        ('{"a": "x\ty"} {"a": "2"}', False),  # the reader's malformed_record whole
        ('{"a": "1"}\u00a0', False),  # a no-break space after the record: nothing lost
        ('{"a": "1"}\u200b ', False),
        ('{"a": "1"}\x1a', False),  # Ctrl-Z, a DOS end of file
        ('{"a": "1"}\u00a0{"a": "2"}', True),
        ("{'a': '1'} {'a': '2'}", True),  # single quotes, which the reader accepts
    ],
)
def test_which_lines_hold_more_than_one_value(spark, line, several) -> None:
    frame = spark.createDataFrame([(line,)], "value string")
    assert frame.select(several_values(F.col("value"))).first()[0] is several


def test_a_record_with_a_raw_tab_and_a_nested_value_is_quarantined_not_the_run(
    spark, tmp_path
) -> None:
    # review51c: the check parsed the first value with get_json_object, which accepts a raw
    # control character in a string; the reader does not (malformed_record), so such a
    # record with a bracket before more text stopped the whole run as "more than one JSON
    # value"; a no-break space after a record did too
    bad = '{"transaction_id": "t2", "card_id": "c1\t", "meta": {"k": "v"}, "label": "0"}'
    nbsp = _record("t3") + "\u00a0"
    files = {"a.jsonl": f"{_record('t1')}\n{bad}\n{nbsp}\n"}
    result = _run(spark, tmp_path, files)
    assert_accounted(spark, result, 3)
    assert sorted(_rows(spark, result)) == ["t1", "t3"]
    assert result.quarantine_examples["malformed_record"].startswith("malformed record: {")


def test_a_file_of_two_pretty_printed_arrays_is_refused_not_half_read(spark, tmp_path) -> None:
    # review51c: read as whole documents (no line is an object), a file of two arrays (two
    # exports joined with `cat`) published the first array's records and dropped the rest
    def array(*tids: str) -> str:
        return json.dumps([json.loads(_record(t)) for t in tids], indent=2) + "\n"

    files = {"a.json": array("t1", "t2") + array("t3"), "b.json": array("t4")}
    with pytest.raises(SchemaError) as err:  # was: t1, t2, t4 published, t3 nowhere
        _run(spark, tmp_path, files)
    said = str(err.value)
    assert "(json): 1 file(s) read as whole JSON documents hold more than one document" in said
    assert "a.json: '[\\n  {\\n" in said and "would be lost" in said
    # one pretty-printed array per file, and one object per file: read whole as before
    one = json.dumps(json.loads(_record("t4")), indent=2)
    files = {"a.json": array("t1", "t2"), "b.json": array("t3"), "c.json": one}
    result = _run(spark, tmp_path / "one", files)
    assert_accounted(spark, result, 4)
    assert sorted(_rows(spark, result)) == ["t1", "t2", "t3", "t4"]
