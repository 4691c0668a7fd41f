"""Transactions whose label is not known yet (etl.allow_unlabelled): a delivery with empty
labels, or none at all, is published unlabelled (label and label_time null) and counted;
a label_time without its label and a label that is not 0/1 are quarantined; a later
delivery of the same transactions with their labels fills them in (etl.mode: append);
a conflicting label or an unknown id is quarantined, nothing lost. Real Spark."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from fraud_app.config import load_config
from fraud_app.errors import SchemaError
from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_hostile_inputs import _rows, _write

pytestmark = pytest.mark.spark

HEADER = "txn,card,ts,amt,is_fraud,label_ts\n"
COLUMNS = {"transaction_id": "txn", "card_id": "card", "timestamp": "ts", "amount": "amt",
           "label": "is_fraud", "label_time": "label_ts"}  # fmt: skip


def _line(tid: str, label: str = "", label_ts: str = "", amount: str = "1.5", hour: int = 10):
    return f"{tid},c1,2024-01-05 {hour:02d}:00:00,{amount},{label},{label_ts}\n"


def _etl(spark, tmp_path: Path, delivery: str, content, **etl):
    path = _write(tmp_path / delivery / ("a.parquet" if isinstance(content, pd.DataFrame)
                                         else "a.csv"), content)  # fmt: skip
    settings = {"input": str(path.parent), "mode": "append", "columns": COLUMNS,
                "timestamp_format": "yyyy-MM-dd HH:mm:ss", **etl}  # fmt: skip
    return run_etl(
        spark, load_config(None, {"paths.root": str(tmp_path / "work"), "etl": settings})
    )


def _quarantine(spark, r) -> dict[str, tuple[str, str]]:
    q = spark.read.parquet(r.quarantine_path).collect()
    return {row.raw_txn: (row.reason, row.reason_detail) for row in q}


def _accounted(r) -> None:
    assert r.input_rows == (r.output_rows - r.previous_rows + r.quarantine_rows
                            + r.duplicate_rows + r.labels_filled)  # fmt: skip


def test_rows_without_a_label_are_published_unlabelled_and_counted(spark, tmp_path, caplog):
    lines = [_line("t1", "0"), _line("t2"), _line("t3", " NULL "), _line("t4", "1", "2024-01-09"),
             _line("t5", "", "2024-01-09"),  # a label_time without its label
             _line("t6", "maybe")]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="fraud_app.etl.pipeline"):
        r = _etl(spark, tmp_path, "d1", HEADER + "".join(lines), label_time_format="yyyy-MM-dd")
    _accounted(r)
    assert (r.output_rows, r.unlabelled_rows, r.quarantine_rows) == (4, 2, 2)
    rows = _rows(spark, r)
    assert {t: (rows[t]["label"], rows[t]["label_time"]) for t in ("t2", "t3")} == {
        "t2": (None, None), "t3": (None, None)}  # fmt: skip
    assert rows["t1"]["label"] == 0 and rows["t4"]["label"] == 1
    assert _quarantine(spark, r) == {
        "t5": ("label_time_without_label", "label_time '2024-01-09' is set but the label is "
               "empty: a label_time needs its label (a transaction not labelled yet has both "
               "empty; etl.allow_unlabelled)"),
        "t6": ("invalid_label", _quarantine(spark, r)["t6"][1]),
    }  # fmt: skip
    assert json.loads(Path(r.report_path).read_text())["unlabelled_rows"] == 2
    assert "2 of the rows added have no label yet" in caplog.text


def test_a_delivery_without_label_columns_is_unlabelled_and_warned(spark, tmp_path, caplog):
    # delay-only and label_time exports alike: neither column is there
    frame = pd.DataFrame({"txn": ["t1", "t2"], "card": ["c1", "c2"], "amt": [1.5, 2.0],
                          "ts": ["2024-01-05 10:00:00"] * 2})  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.pipeline"):
        r = _etl(spark, tmp_path, "d1", frame)
    assert (r.output_rows, r.unlabelled_rows, r.quarantine_rows) == (2, 2, 0)
    assert "has no label column (looked for 'is_fraud'): every row is published unlabelled" in (
        caplog.text
    )
    # a pandas float column with NaN for the unknown labels is unlabelled too
    nan = frame.assign(txn=["t3", "t4"], is_fraud=[float("nan"), 1.0])
    r = _etl(spark, tmp_path, "d2", nan)
    assert (r.output_rows - r.previous_rows, r.unlabelled_rows, r.quarantine_rows) == (2, 1, 0)


def test_with_allow_unlabelled_off_the_label_is_required(spark, tmp_path):
    r = _etl(spark, tmp_path, "d1", HEADER + _line("t1") + _line("t2", "1"), allow_unlabelled=False)
    assert r.quarantine_by_reason == {"missing_required_field": 1} and r.unlabelled_rows == 0
    assert _quarantine(spark, r)["t1"] == ("missing_required_field",
                                           "missing required field(s): label")  # fmt: skip
    with pytest.raises(SchemaError, match=r"lacks required column\(s\): label \(looked for "
                       r"'is_fraud'\).*set etl.allow_unlabelled: true"):  # fmt: skip
        _etl(
            spark,
            tmp_path,
            "d2",
            "txn,card,ts,amt\nt9,c1,2024-01-05 10:00:00,1\n",
            allow_unlabelled=False,
        )


def test_late_labels_fill_in_published_unlabelled_rows(spark, tmp_path):
    first = [_line("t1"), _line("t2"), _line("t3"), _line("t4", "0", hour=11),
             _line("t5", hour=12), _line("t6", hour=13)]  # fmt: skip
    r1 = _etl(spark, tmp_path, "d1", HEADER + "".join(first), label_time_format="yyyy-MM-dd")
    assert (r1.output_rows, r1.unlabelled_rows) == (6, 5)
    later = [
        _line("t1", "1", "2024-01-20"),  # the label arrives: filled in
        _line("t2", "0"),  # filled in (delay-only: no label_time)
        _line("t3"),  # still unlabelled: an identical duplicate
        _line("t4", "", hour=11),  # an older, unlabelled copy of a labelled row: a duplicate
        _line("t4", "1", hour=11),  # another label for a labelled row: a conflict
        _line("t5", "1", amount="9", hour=12),  # not the published transaction: a conflict
        _line("t6", "1", hour=13), _line("t6", "0", hour=13),  # two labels: fraud kept
        _line("t7", "1", "2024-01-20"),  # a new transaction, labelled at once
    ]  # fmt: skip
    r = _etl(spark, tmp_path, "d2", HEADER + "".join(later), label_time_format="yyyy-MM-dd")
    _accounted(r)
    assert (r.labels_filled, r.duplicate_rows, r.output_rows, r.previous_rows) == (3, 2, 7, 6)
    assert r.unlabelled_rows == 0 and r.quarantine_by_reason == {"conflicting_duplicate": 3}
    rows = _rows(spark, r)
    labels = {t: (v["label"], v["label_time"] and str(v["label_time"])) for t, v in rows.items()}
    # a date alone is the end of its day (review51c)
    assert labels == {"t1": (1, "2024-01-20 23:59:59.999999"), "t2": (0, None),
                      "t3": (None, None),
                      "t4": (0, None), "t5": (None, None), "t6": (1, None),
                      "t7": (1, "2024-01-20 23:59:59.999999")}  # fmt: skip
    assert rows["t5"]["amount"] == 1.5  # the published transaction is not replaced
    details = {t: d for t, (_, d) in _quarantine(spark, r).items()}
    assert "differs in: label; kept (published before): label=0" in details["t4"]
    assert (
        "differs in: amount, label; kept (published before): amount=1.5, label=null"
        in (details["t5"])
    )
    assert "differs from the kept (earliest) version in: label; kept in the canonical table: " \
           "label=1" in details["t6"]  # fmt: skip


def test_quarantine_all_keeps_a_row_unlabelled_when_its_labels_disagree(spark, tmp_path):
    _etl(spark, tmp_path, "d1", HEADER + _line("t1"), conflicting_duplicates="quarantine_all")
    r = _etl(spark, tmp_path, "d2", HEADER + _line("t1", "1") + _line("t1", "0"),
             conflicting_duplicates="quarantine_all")  # fmt: skip
    _accounted(r)
    assert (r.labels_filled, r.quarantine_rows, r.output_rows) == (0, 2, 1)
    assert _rows(spark, r)["t1"]["label"] is None


def test_replace_mode_over_every_delivery_keeps_the_labelled_copy(spark, tmp_path):
    # etl.mode: replace reads every delivery: the unlabelled first copy and the labelled
    # later one of a transaction are one transaction, not a conflict
    _write(tmp_path / "all" / "day1.csv", HEADER + _line("t1") + _line("t2"))
    r = _etl(spark, tmp_path, "all", HEADER + _line("t1", "1"), mode="replace",
             conflicting_duplicates="quarantine_all")  # fmt: skip
    _accounted(r)
    assert (r.output_rows, r.duplicate_rows, r.quarantine_rows, r.unlabelled_rows) == (2, 1, 0, 1)
    assert {t: v["label"] for t, v in _rows(spark, r).items()} == {"t1": 1, "t2": None}
