"""`validate` names the dates of the canonical table whose volume collapsed: an outage (no
rows), a delivery cut after its first hours, a day at a fraction of its usual volume.
Such a table passed every check, and the window features of the days after it counted
fewer transactions than happened, without a word (session 29 probes)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ValidationFailedError
from fraud_app.validation.validate import validate_canonical
from tests.fraud_app.validation.test_validation import CANONICAL_SCHEMA

T0 = dt.datetime(2024, 1, 1)


def _rows() -> list[tuple]:
    """20 days of 24 rows (one an hour); 01-08 and 01-09 missing, 01-12 only its first 3
    hours, 01-15 2 rows."""
    rows = []
    for day in range(20):
        hours = {7: 0, 8: 0, 11: 3, 14: 2}.get(day, 24)
        for h in range(hours):
            ts = T0 + dt.timedelta(days=day, hours=h)
            i = len(rows)
            rows.append(
                (f"t{i:04d}", f"c{i % 7}", f"m{i % 3}", ts, 10.0 + i % 50, 1 if i % 25 == 0 else 0,
                 ts + dt.timedelta(days=3), "5411", "POS", "CN", "CN", None, None)
            )  # fmt: skip
    return rows


def _config(tmp_path: Path, **canonical):
    checks = {"reference_time": "2024-01-21T00:00:00", "label_rate_min": 0.01,
              "label_rate_max": 0.2, **canonical}  # fmt: skip
    return load_config(None, {"paths.root": str(tmp_path), "validation.canonical": checks})


@pytest.mark.spark
def test_an_outage_and_partial_days_are_named_with_the_setting(spark, tmp_path, caplog) -> None:
    df = spark.createDataFrame(_rows(), CANONICAL_SCHEMA)
    with caplog.at_level("WARNING", logger="fraud_app.validation.validate"):
        report = validate_canonical(spark, df, _config(tmp_path), run_name="v1")
    assert report.success  # a warning by default
    [volume] = [r for r in report.warnings if r.name == "event_date:volume"]
    assert volume.observed == (
        "4 incomplete date(s) of 20: 2024-01-08..2024-01-09 (2 dates, no rows), "
        "2024-01-12 (3 rows; usual ~24), 2024-01-15 (2 rows; usual ~24)"
    )
    assert "validation.canonical.min_day_volume_ratio" in volume.setting
    assert "2024-01-08..2024-01-09 (2 dates, no rows)" in caplog.text
    saved = json.loads((tmp_path / "reports" / "canonical_validation-v1.json").read_text())
    assert saved["n_warnings"] == 1
    # an operator may make it stop the pipeline; a ratio of 0 turns it off
    strict = _config(tmp_path, severities={"event_date:volume": "error"})
    with pytest.raises(ValidationFailedError, match=r"event_date:volume .*2024-01-12 \(3 rows"):
        validate_canonical(spark, df, strict)
    off = validate_canonical(spark, df, _config(tmp_path, min_day_volume_ratio=0))
    assert not off.warnings


@pytest.mark.spark
def test_a_complete_table_passes_the_volume_check(spark, tmp_path) -> None:
    rows = [r for r in _rows() if r[3].day not in (12, 15)]  # outage kept out: 01-01..01-07
    complete = [r for r in rows if r[3] < dt.datetime(2024, 1, 8)]
    report = validate_canonical(spark, spark.createDataFrame(complete, CANONICAL_SCHEMA),
                                _config(tmp_path, reference_time="2024-01-08T00:00:00"))  # fmt: skip
    [volume] = [r for r in report.results if r.name == "event_date:volume"]
    assert volume.success and volume.observed == "7 date(s), none incomplete"
