"""An append onto a table published before the code columns were read as codes
(review53b, fraud_app.etl.code_reading): since probe53b the ETL publishes MCC 742 as
'0742' and 5411.0 as '5411'; a table of an earlier release holds them as delivered, and
an append put both spellings of one merchant category into it (two categories to the
encodings), silently unless most added rows held the new one. Such an append is refused,
before anything is written, naming the values and `etl.mode: replace`; a table of codes
already so spelt is appended to, and its report then records `code_reading`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app import schema
from fraud_app.errors import DataIntegrityError
from tests.fraud_app.etl.test_delivery_drift import _day, _etl

pytestmark = pytest.mark.spark


def _as_an_earlier_release_wrote_it(spark, table: str, mcc=None) -> int:
    """Rewrite `table` as a release before probe53b left it: no `code_reading` in its
    report, no manifest, and (`mcc`) codes as they were delivered."""
    report = json.loads((Path(table) / "_etl_report.json").read_text())
    del report["code_reading"]
    rows = spark.read.parquet(table)
    if mcc is not None:
        rows = rows.withColumn("mcc", mcc)
    rows = spark.createDataFrame(rows.collect(), rows.schema)
    shutil.rmtree(table)
    rows.write.partitionBy("event_date").parquet(table)
    (Path(table) / "_etl_report.json").write_text(json.dumps(report))
    return rows.count()


def test_an_append_onto_a_table_of_codes_as_delivered_is_refused(spark, tmp_path) -> None:
    first = _etl(spark, tmp_path, _day("2024-03-01"), "old", "replace")
    assert json.loads(Path(first.report_path).read_text())["code_reading"] == schema.CODE_READING
    old = F.when(F.col("mcc") == "5411", "5411.0").otherwise("742")  # as delivered then
    rows = _as_an_earlier_release_wrote_it(spark, first.output_path, old)
    before = Path(first.report_path).read_text()
    day = _day("2024-03-02", prefix="n")
    day["mcc"] = ["742", "5411"] * 5
    with pytest.raises(DataIntegrityError) as caught:
        _etl(spark, tmp_path, day, "new", "append")
    said = str(caught.value)
    assert "holds codes this release publishes otherwise (mcc: '5411.0', '742';" in said
    assert "'742' is now '0742'" in said and "Nothing was written" in said
    assert "etl.mode: replace over every delivery" in said
    assert spark.read.parquet(first.output_path).count() == rows
    assert Path(first.report_path).read_text() == before


def test_an_append_onto_an_earlier_table_of_standard_codes_goes_on(spark, tmp_path) -> None:
    first = _etl(spark, tmp_path, _day("2024-03-01"), "old", "replace")
    rows = _as_an_earlier_release_wrote_it(spark, first.output_path)  # 5411 / 5812: as now
    day = _day("2024-03-02", prefix="n")
    day["mcc"] = ["742", "5411"] * 5
    result = _etl(spark, tmp_path, day, "new", "append")
    assert result.output_rows == rows + 10 and result.code_reading == schema.CODE_READING
    report = json.loads(Path(result.report_path).read_text())
    assert report["code_reading"] == schema.CODE_READING  # the check runs once
    mccs = {r.mcc for r in spark.read.parquet(result.output_path).collect()}
    assert mccs == {"0742", "5411", "5812"}
