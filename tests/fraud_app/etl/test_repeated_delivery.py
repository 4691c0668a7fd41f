"""An `etl --mode append` of an input the table's last run published whole says so.

A run killed after its commit (its marker gone: the report written, the staging not yet
removed, or later, while it logged) has published its delivery; the scheduler's retry then
finds every row published and reported "N duplicate rows, 0 added" over the killed run's
complete report, with nothing saying that they were the killed run's rows, not
duplicates in the delivery. The report now records each run's job and input, and the next
run of the same input names that job (`repeat_of`) with a WARNING."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_append_incremental import _cfg, _row, _write

pytestmark = pytest.mark.spark


def test_a_second_run_of_a_published_input_names_the_run_that_published_it(
    spark, first_delivery_published, tmp_path, caplog
):
    # the first delivery (d1/) published: a copy of conftest.py's, made once per process
    shutil.copytree(first_delivery_published, tmp_path, dirs_exist_ok=True)  # copy2: mtimes
    cfg = _cfg(tmp_path, _write(tmp_path / "d2" / "b.csv", [_row("t40", 1), _row("t42", 6)]))
    published = run_etl(spark, cfg)
    assert published.repeat_of is None and published.job.startswith("etl-")
    report = Path(published.report_path)
    assert json.loads(report.read_text())["source"]["content"] == published.source["content"]

    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.pipeline"):
        again = run_etl(spark, cfg)
    assert (again.duplicate_rows, again.output_rows - again.previous_rows) == (2, 0)
    assert again.repeat_of == published.job
    assert json.loads(report.read_text())["repeat_of"] == published.job
    assert f"this input was published whole by job {published.job}" in caplog.text

    other = run_etl(spark, _cfg(tmp_path, _write(tmp_path / "d3" / "c.csv", [_row("t50", 7)])))
    assert other.repeat_of is None
