"""`fraud-app validate --no-fail` on a table that fails error-severity checks: reported and
done (exit 0, each failure named on stderr), not exit 1; a check of a column with no value
says so instead of `observed a failure`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.fraud_app.validation.test_validation import CANONICAL_SCHEMA, _rows


@pytest.mark.spark
def test_no_fail_exits_0_and_names_each_failure_and_an_unlabelled_table(
    spark, tmp_path, capsys, caplog
) -> None:
    # every row unlabelled (a first delivery whose labels come later): label:rate failed
    # with "observed a failure"; an amount out of range beside it
    rows = [(*r[:4], 5e6 if i == 3 else r[4], None, *r[6:]) for i, r in enumerate(_rows(12))]
    table = str(tmp_path / "canonical")
    spark.createDataFrame(rows, CANONICAL_SCHEMA).write.parquet(table)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"paths: {{root: {tmp_path}}}\n"
        "validation: {canonical: {reference_time: 2024-01-01T12:00:00, min_day_volume_ratio: 0}}\n"
    )
    args = ["-c", str(config), "validate", "--input", table, "--run-name"]

    # --no-fail: reported and done; it returned 1, the exit code of a crash (README)
    assert main([*args, "r1", "--no-fail"]) == 0
    out = capsys.readouterr().out
    err = caplog.text  # the log lines (the CLI's handler writes them to stderr)
    summary = json.loads(out)
    assert not summary["success"] and summary["errors"] == ["amount:range", "label:rate"]
    # each error-severity failure is named on stderr (only counted before)
    assert "validation error (not failing: " in err and "amount:range (" in err
    assert (
        "label:rate (ExpectColumnMeanToBeBetween on column 'label'): observed no labelled row"
        in err
    )
    assert "observed a failure" not in err
    saved = json.loads(Path(summary["json"]).read_text())
    rate = next(r for r in saved["results"] if r["name"] == "label:rate")
    assert rate["observed"].startswith("no labelled row (label is null in every row")

    # without it: exit 2, the error line names both
    assert main([*args, "r2"]) == 2
    last = capsys.readouterr().err.strip().splitlines()
    assert any("label:rate" in line and "no labelled row" in line for line in last)
