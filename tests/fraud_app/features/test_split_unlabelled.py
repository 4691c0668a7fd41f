"""Rows whose label is not known yet inside the validation or test window (probe54c).

They are left out of every window (never read as normals), so a window's figures rest on
its labelled rows only. Where labels arrive by class (a chargeback feed confirms frauds
within a day, normals settle after the label delay) the labelled rows of the last days are
the frauds alone: a test window of 14 frauds among 140 rows was evaluated on the 14 frauds
(fraud rate 1.0), and nothing said so. The split summary now counts them per window and a
validation or test window holding some gets one WARNING.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from fraud_app.features.config import SplitsSection
from fraud_app.features.splits import split_by_time

UTC = dt.UTC
START = dt.datetime(2024, 1, 1, tzinfo=UTC)


def _rows(confirmed_from_day: int, days: int = 40, per_day: int = 20):
    """`per_day` rows a day, every 10th a fraud; from `confirmed_from_day` on only the
    frauds are labelled (fast chargebacks), the normals not yet (null)."""
    rows = []
    for d in range(days):
        for j in range(per_day):
            fraud = j % 10 == 0
            label = 1 if fraud else (0 if d < confirmed_from_day else None)
            ts = START + dt.timedelta(days=d, minutes=30 + 60 * j)
            rows.append((f"t{d:02d}-{j:02d}", ts, label))
    return rows


@pytest.mark.spark
def test_unlabelled_rows_of_the_test_window_are_counted_and_warned_about(spark, caplog):
    rows = _rows(confirmed_from_day=30)
    df = spark.createDataFrame(rows, "transaction_id string, timestamp timestamp, label int")
    with caplog.at_level(logging.WARNING, logger="fraud_app.features.splits"):
        result = split_by_time(df, SplitsSection(), label_delay_days=7)
    windows = result.summary["windows"]
    # the last labelled row is on day 39 (a fraud): test = days 33..39, labelled frauds only
    assert windows["test"]["start"] == "2024-02-03T00:00:00+00:00"
    assert (windows["test"]["rows"], windows["test"]["frauds"]) == (14, 14)
    assert windows["test"]["unlabelled"] == 7 * 18
    assert windows["test"]["first_unlabelled"] == "2024-02-03 01:30:00"
    assert result.test.count() == 14  # the windows hand on labelled rows only
    assert windows["validation"]["unlabelled"] == 0  # days 19..25: every label known
    assert windows["train"]["unlabelled"] == 0
    assert result.summary["unused_rows"] == 7 * 20 - 3 * 18  # the gap's labelled rows
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, warned
    assert warned[0].startswith(
        "the test window (2024-02-03T00:00:00+00:00 .. 2024-02-10T00:00:00+00:00) holds 126 "
        "row(s) whose label is not known yet (label null; 90.0 % of its 140 rows, the first "
        "at 2024-02-03 01:30:00): they are left out, so its figures rest on its 14 labelled "
        "row(s) (14 fraud(s), fraud rate 1.0)"
    ), warned[0]
    assert "splits.end" in warned[0]


@pytest.mark.spark
def test_windows_of_known_labels_say_nothing_and_hash_as_before(spark, caplog):
    """Unlabelled rows after the test window (the days whose labels are still to come, the
    usual case) are in no window and not warned about; the windows' content checksums are
    those of the labelled rows alone (tune's journal compares them)."""
    rows = _rows(confirmed_from_day=40)  # every label known ...
    late = [(f"u{i:02d}", START + dt.timedelta(days=40, hours=i), None) for i in range(5)]
    schema = "transaction_id string, timestamp timestamp, label int"
    with_late = spark.createDataFrame(rows + late, schema)  # ... then 5 rows of day 40 unlabelled
    with caplog.at_level(logging.WARNING, logger="fraud_app.features.splits"):
        result = split_by_time(with_late, SplitsSection(), label_delay_days=7, content=True)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    alone = split_by_time(spark.createDataFrame(rows, schema), SplitsSection(),
                          label_delay_days=7, content=True)  # fmt: skip
    for name in ("train", "validation", "test"):
        got, want = result.summary["windows"][name], alone.summary["windows"][name]
        assert got == want, name
        assert got["unlabelled"] == 0 and "content" in got


@pytest.mark.spark
def test_train_counts_the_unlabelled_rows_of_its_windows(spark, tmp_path, caplog):
    """`train` reads the feature table's every row for the splits (read_features with
    labelled_only=False), so the WARNING reaches `fraud-app train`: it read the labelled
    rows only and the windows could not count what they had lost. Stopped right after the
    split here (its training window holds no fraud), before anything trains."""
    import json
    from pathlib import Path

    from fraud_app.config import load_config
    from fraud_app.errors import EmptyInputError
    from pipelines.training.pipeline import run_training

    rows = [(tid, ts, label, [1.0], ts.date().isoformat())
            for tid, ts, label in _rows(confirmed_from_day=30)
            if label != 1 or ts >= START + dt.timedelta(days=26)]  # fmt: skip
    schema = ("transaction_id string, timestamp timestamp, label int, features array<float>, "
              "event_date string")  # fmt: skip
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    path = str(config.feature_table())
    spark.createDataFrame(rows, schema).write.partitionBy("event_date").parquet(path)
    (Path(path) / "_features.json").write_text(
        json.dumps({"feature_names": ["f0"], "vector_column": "features"})
    )
    with (
        caplog.at_level(logging.WARNING, logger="fraud_app.features.splits"),
        pytest.raises(EmptyInputError, match="holds no fraud"),
    ):
        run_training(spark, config, run="r")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("the test window (2024-02-03T00:00:00+00:00 .. ") and
               "holds 126 row(s) whose label is not known yet" in m for m in warned), warned  # fmt: skip
