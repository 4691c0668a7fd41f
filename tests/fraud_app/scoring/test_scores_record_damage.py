"""`score` updates the scores table's record of its files (`_files.json`,
fraud_app.etl.manifest.update) after it swaps in its dates: the other dates' entries are
kept, so damage there stays visible to the table's readers. A record that could not be
read was written again from the listing, damage included: a cut part file of another date
was recorded as written, and its readers then took it for the writer's (session 40,
corrupt40's Left; session 41, corrupt41). Now a file that is no whole Parquet file (no
footer) is never recorded, by any writer, with a WARNING naming it. Real Spark."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import differences, record, update

pytestmark = pytest.mark.spark


def _scores(spark, folder: Path, day: str, rows: int) -> None:
    df = spark.createDataFrame(
        [(f"t{i}", i / 10, dt.date.fromisoformat(day)) for i in range(rows)],
        "transaction_id string, fraud_score double, event_date date",
    )
    df.coalesce(1).write.mode("append").partitionBy("event_date").parquet(str(folder))


def _cut(path: Path) -> None:
    (path.parent / f".{path.name}.crc").unlink(missing_ok=True)
    path.write_bytes(path.read_bytes()[:100])


def test_an_unreadable_record_is_not_rewritten_over_a_cut_file(spark, tmp_path, caplog):
    fs, table = HadoopFs(spark), tmp_path / "scores"
    _scores(spark, table, "2024-01-05", 20)
    _scores(spark, table, "2024-01-06", 20)
    record(fs, str(table))
    cut = next((table / "event_date=2024-01-05").glob("*.parquet"))
    _cut(cut)
    (table / "._files.json.crc").unlink()
    (table / "_files.json").write_text('{"format": "fraud_app.files/1", "data_')  # cut too
    assert "is not readable" in differences(fs, str(table))
    # the next `score` of 2024-01-06: its partition swapped in, then the record updated
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.manifest"):
        update(fs, str(table), ["event_date=2024-01-06"])
    found = differences(fs, str(table))
    # on the base: "" (the cut file recorded as written)
    assert (
        found == f"of the 1 data files written ({_size(table, '2024-01-06')} bytes), "
        f"1 not written by it (event_date=2024-01-05/{cut.name} (100 bytes))"
    )
    assert "its _files.json cannot be read" in caplog.text
    assert f"event_date=2024-01-05/{cut.name} (100 bytes)" in caplog.text


def test_a_cut_file_is_never_recorded_as_written(spark, tmp_path):
    fs, table = HadoopFs(spark), tmp_path / "table"
    _scores(spark, table, "2024-01-05", 5)
    empty = table / "event_date=2024-01-05" / "part-zero.parquet"
    empty.write_bytes(b"")
    made = record(fs, str(table))
    assert list(made["data_files"]) == [
        str(p.relative_to(table)) for p in table.rglob("*.parquet") if p != empty
    ]
    assert "1 not written by it (event_date=2024-01-05/part-zero.parquet (0 bytes))" in (
        differences(fs, str(table))
    )


def _size(table: Path, day: str) -> int:
    return sum(p.stat().st_size for p in (table / f"event_date={day}").glob("*.parquet"))
