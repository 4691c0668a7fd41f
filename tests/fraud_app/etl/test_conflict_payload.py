"""fraud_app.etl.outputs (the write step of fraud_app.etl.pipeline): the classification
carries the canonical columns and the staged row key only; the conflicting versions' raw
strings and file names come back from the stage by that key (`_with_conflicts`), by a
broadcast or by a shuffled join."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.etl import outputs
from fraud_app.etl.pipeline import ROW_KEY, annotate_rows, deduplicate, run_etl
from fraud_app.etl.reader import read_input

pytestmark = pytest.mark.spark

HEADER = "id,card,when,value,fraud,note"
A = [  # (id, when, value, label, note): the raw text differs from the parsed value
    ("t1", "2024-01-05 10:00:00", "12.50", "0", "a1"),
    ("v", "2024-01-05 10:00:01", "1", "0", "a2"),  # the kept (earliest) version
    ("v", "2024-01-05 10:00:09", " 3.0 ", "0", "a3"),  # conflicting: quarantined
    ("x", "not a date", "2", "0", "a4"),  # rejected by a rule
]
B = [
    ("v", "2024-01-05 10:00:05", "2.00", "1", "b1"),  # conflicting, from the other file
    ("t2", "2024-01-06 11:00:00", "7", "0", "b2"),
]


def _config(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    for name, rows in (("a.csv", A), ("b.csv", B)):
        lines = [HEADER, *(f"{i},c1,{w},{v},{f},{n}" for i, w, v, f, n in rows)]
        (src / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = {"transaction_id": "id", "card_id": "card", "timestamp": "when",
               "amount": "value", "label": "fraud"}  # fmt: skip
    etl = {"input": str(src), "columns": mapping, "timestamp_format": "yyyy-MM-dd HH:mm:ss"}
    return load_config(None, {"paths.root": str(tmp_path / "work"), "etl": etl})


def _quarantine(spark, result) -> list[tuple]:
    q = spark.read.parquet(result.quarantine_path)
    rows = q.select("raw_id", "raw_value", "raw_note", "reason", "reason_detail", "source_file")
    return sorted(tuple(r) for r in rows.collect())


def test_the_classification_carries_no_raw_strings(spark, tmp_path) -> None:
    cfg = _config(tmp_path)
    raw, _ = read_input(spark, cfg.etl.input, cfg.etl)
    staged = annotate_rows(raw, cfg.etl, cfg.etl.input).withColumn(ROW_KEY, F.lit(7))
    columns = deduplicate(staged).columns
    assert ROW_KEY in columns
    assert not [c for c in columns if c.startswith(("__raw_", "__file"))], columns


@pytest.mark.parametrize("broadcast_max", [outputs.BROADCAST_CONFLICTS, 0])
def test_conflicts_keep_their_raw_text_and_file(spark, tmp_path, monkeypatch, broadcast_max):
    monkeypatch.setattr(outputs, "BROADCAST_CONFLICTS", broadcast_max)
    cfg = _config(tmp_path)
    result = run_etl(spark, cfg)
    rows = _quarantine(spark, result)
    assert [r[:4] for r in rows] == [
        ("v", " 3.0 ", "a3", "conflicting_duplicate"),
        ("v", "2.00", "b1", "conflicting_duplicate"),
        ("x", "2", "a4", "unparseable_timestamp"),
    ]
    assert [Path(r[5]).name for r in rows] == ["a.csv", "b.csv", "a.csv"]
    assert "3 different versions" in rows[0][4]
    assert (result.output_rows, result.quarantine_rows, result.duplicate_rows) == (3, 3, 0)
