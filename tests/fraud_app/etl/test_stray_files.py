"""A delivery folder holding files that are not the delivery (session 22 probe): every file
under `etl.input` was read in the detected format whatever its name, so a backup copy
(`d.csv.bak`, `d.csv~`) or an upload in progress (`e.csv.part`) was read as transactions
without a word: the backup's stale amounts competed with the delivery's as conflicting
duplicates, and `keep_earliest` kept the smaller, stale one. Now such files are refused,
named, before any row is read. Real Spark, real files."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import SchemaError
from fraud_app.etl.pipeline import run_etl

pytestmark = pytest.mark.spark
HEADER = "transaction_id,card_id,timestamp,amount,label\n"
GOOD = HEADER + "".join(
    f"t{i},c{i % 3},2024-01-0{1 + i % 4} 10:00:00,{10 + i}.50,0\n" for i in range(20)
)
STALE = HEADER + "".join(f"t{i},c{i % 3},2024-01-0{1 + i % 4} 10:00:00,{1 + i}.00,0\n" for i in range(20))  # fmt: skip


def _config(tmp_path, **more):
    return load_config(None, {"paths.root": str(tmp_path / "root"), "etl.input": str(tmp_path / "in"),
                              "tracking.enabled": False, **more})  # fmt: skip


@pytest.mark.parametrize(
    "stray",
    ["d.csv.bak", "d.csv~", "e.csv.part", "README.md", "old/d.csv.1"],
)
def test_a_file_without_a_data_extension_beside_the_delivery_is_named(spark, tmp_path, stray):
    src = tmp_path / "in"
    (src / stray).parent.mkdir(parents=True, exist_ok=True)
    (src / "d.csv").write_text(GOOD)
    (src / stray).write_text(STALE)
    with pytest.raises(SchemaError, match=rf"holds 1 file\(s\) without a data extension beside "
                       rf"its data files: {stray}\. Every file under the folder is read as "
                       r"data"):  # fmt: skip
        run_etl(spark, _config(tmp_path))
    assert not (tmp_path / "root" / "canonical").exists()  # nothing published
    (src / stray).unlink()
    result = run_etl(spark, _config(tmp_path))
    assert (result.output_rows, result.duplicate_rows, result.quarantine_rows) == (20, 0, 0)


def test_files_all_without_an_extension_are_read_in_the_configured_format(spark, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "export-1").write_text(GOOD)
    result = run_etl(spark, _config(tmp_path, **{"etl.format": "csv"}))
    assert result.output_rows == 20
