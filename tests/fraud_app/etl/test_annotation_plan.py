"""The cost of the ETL's row annotation: each input value is trimmed once and each rule is
tested once per row. Written inline, Spark's plan repeated both (108 Unicode set-trims per
row for a 13-column delivery, every rule test once for `reason` and again for
`reason_detail`); the ETL's 1M-row parse was ~25 % slower for it (docs/BENCHMARKS.md,
session 14 and helper e2e13)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl.pipeline import annotate_rows
from fraud_app.etl.reader import read_input

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label,label_time,channel\n"
ROW = "t1,c1,m1,2024-01-01T10:00:00,12.5,0,2024-01-20T10:00:00,POS\n"


def _plan(spark, tmp_path: Path) -> str:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part.csv").write_text(HEADER + ROW)
    config = load_config(
        None, {"paths.root": str(tmp_path / "work"), "etl": {"input": str(tmp_path / "in")}}
    )
    raw, _ = read_input(spark, str(tmp_path / "in"), config.etl)
    annotated = annotate_rows(raw, config.etl, str(tmp_path / "in"))
    key = "spark.sql.debug.maxToStringFields"  # the whole plan, not "... 12 more fields"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "10000")
    try:
        return annotated._jdf.queryExecution().optimizedPlan().toString()
    finally:
        spark.conf.unset(key) if before is None else spark.conf.set(key, before)


def test_each_value_is_trimmed_once_and_each_rule_tested_once(spark, tmp_path) -> None:
    plan = _plan(spark, tmp_path)
    # one set-trim per input column mapped to a canonical column (8 here), none repeated
    assert len(re.findall(r"\btrim\(", plan)) == HEADER.count(",") + 1
    # the non_finite_amount test (isnan) once: not again for the detail column
    assert len(re.findall(r"\bisnan\(", plan)) == 1
