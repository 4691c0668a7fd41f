"""Gaps in the data's timeline through `features`, `train`'s split and `score`'s history
(session 29 probes). A delivery outage (no rows for two dates) and a day cut after its
first hour left the window features of the following days counting fewer transactions
than happened, and the data's first days (no history before them) were trained on as if
complete: `features`, `train` and `score` said nothing. Real Spark, real files (CSV ->
`run_etl` -> `build_feature_table`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.table_read import read_table
from fraud_app.features.pipeline import build_feature_table, feature_set_from_config
from fraud_app.features.splits import split_by_time
from fraud_app.scoring.history import history_timeline, warn_history
from pipelines.training.feature_input import train_history

pytestmark = pytest.mark.spark
D0 = dt.date(2024, 1, 1)
OUTAGE = (dt.date(2024, 1, 20), dt.date(2024, 1, 21))
PARTIAL = dt.date(2024, 1, 25)  # only its first hour delivered
SPEC = """version: 1
features:
  - kind: window_agg
    entity: card
    aggregations: [count]
    windows: [7d]
"""


def _csv(days: int = 40) -> str:
    lines = ["transaction_id,card_id,timestamp,amount,label"]
    for d in range(days):
        day = D0 + dt.timedelta(days=d)
        if day in OUTAGE:
            continue
        for h in range(1 if day == PARTIAL else 12):
            i = len(lines)
            lines.append(f"t{i},c{i % 4},{day} {2 * h:02d}:10:00,{10 + i % 9}.5,{int(i % 9 == 0)}")
    return "\n".join(lines) + "\n"


def _config(tmp_path: Path):
    raw, specs = tmp_path / "raw", tmp_path / "specs"
    raw.mkdir()
    specs.mkdir()
    (raw / "d.csv").write_text(_csv())
    (specs / "card.yaml").write_text(SPEC)
    return load_config(None, {
        "paths.root": str(tmp_path / "root"), "etl.input": str(raw),
        "features.spec_dir": str(specs), "features.label_delay_days": 2,
        "splits.test_days": 3, "splits.validation_days": 3, "splits.test_gap_days": 0,
    })  # fmt: skip


def test_incomplete_dates_and_the_warm_up_are_named_and_recorded(spark, tmp_path, caplog):
    config = _config(tmp_path)
    run_etl(spark, config)
    with caplog.at_level("WARNING", logger="fraud_app.features.pipeline"):
        summary = build_feature_table(spark, config)
    timeline = json.loads(Path(summary.metadata_path).read_text())["timeline"]
    assert timeline == summary.extra["timeline"]
    assert timeline["first_date"] == "2024-01-01" and timeline["last_date"] == "2024-02-09"
    assert timeline["lookback_days"] == 7 and timeline["full_history_from"] == "2024-01-08"
    assert [(t["date"], t["rows"], t["read_until"]) for t in timeline["incomplete_dates"]] == [
        ("2024-01-20", 0, "2024-01-27"), ("2024-01-21", 0, "2024-01-28"),
        ("2024-01-25", 1, "2024-02-01"),
    ]  # fmt: skip
    assert (
        "3 incomplete date(s) between its first and last (fewer rows than "
        "validation.canonical.min_day_volume_ratio 0.25 x the usual): 2024-01-20..2024-01-21 "
        "(2 dates, no rows), 2024-01-25 (1 row; usual ~12)" in caplog.text
    )
    assert "up to 7 days after each (through 2024-02-01)" in caplog.text
    # what the outage did: the 7-day card counts of the next days are lower, silently
    features = read_table(spark, config.feature_table(), "feature table", "features")
    mean = dict(
        features.groupBy(F.col("event_date").cast("string")).agg(F.avg("card_count_7d")).collect()
    )
    assert mean["2024-01-22"] < 0.8 * mean["2024-01-19"]

    # train: the split's training window (..2024-02-04) counted, one WARNING
    caplog.clear()
    split = split_by_time(features, config.splits, label_delay_days=2)
    with caplog.at_level("WARNING", logger="pipelines.training.pipeline"):
        train_history(spark, config, split)
    history = split.summary["windows"]["train"]["history"]
    assert history["rows"] == 12 * 31 + 1 and history["warm_up_rows"] == 7 * 12
    # rows dated 01-22..02-01 read an incomplete date (01-25: its 1 row included)
    assert history["incomplete_history_rows"] == 12 * 10 + 1
    assert history["incomplete_dates"] == ["2024-01-20", "2024-01-21", "2024-01-25"]
    assert "of the training window's 373 rows, 84 (23%) are from the warm-up" in caplog.text
    assert (
        "121 (32%) read incomplete dates (2024-01-20..2024-01-21 (2 dates), 2024-01-25)"
        in caplog.text
    )
    assert split.summary["windows"]["test"]["incomplete_dates"] == []
    # a test window that holds the partial day (splits ending 2024-01-28)
    caplog.clear()
    ending = config.splits.model_copy(update={"end": dt.date(2024, 1, 28)})
    split = split_by_time(features, ending, label_delay_days=2)
    with caplog.at_level("WARNING", logger="pipelines.training.pipeline"):
        train_history(spark, config, split)
    assert split.summary["windows"]["test"]["incomplete_dates"] == [
        {"date": "2024-01-25", "rows": 1, "usual": 12.0}
    ]
    assert (
        "the test window (2024-01-25 00:00 .. 2024-01-28 00:00) holds 1 incomplete date(s): "
        "2024-01-25 (1 row; usual ~12); the test figures rest on fewer transactions" in caplog.text
    )

    # score: the history of 01-23 holds the outage; that of 01-03 starts before the data
    caplog.clear()
    canonical = read_table(spark, config.canonical_table(), "canonical table", "etl")
    fs = feature_set_from_config(config.features)
    day = dt.date(2024, 1, 23)
    history = history_timeline(canonical, fs, day, day, 0.25)
    assert history.to_dict() == {
        "lookback_days": 7.0, "from": "2024-01-16", "data_starts": None,
        "incomplete_dates": [{"date": "2024-01-20", "rows": 0, "usual": 12.0},
                             {"date": "2024-01-21", "rows": 0, "usual": 12.0}],
        "min_day_volume_ratio": 0.25,
    }  # fmt: skip
    with caplog.at_level("WARNING", logger="fraud_app.scoring.history"):
        warn_history("score", day, day, history)
        early = history_timeline(canonical, fs, dt.date(2024, 1, 3), dt.date(2024, 1, 3), 0.25)
        warn_history("score", early.first, early.first, early)
    assert early.data_starts == D0 and not early.thin
    assert (
        "score 2024-01-23..2024-01-23: the history its window features read (7 days, from "
        "2024-01-16) holds 2 incomplete date(s)" in caplog.text
    )
    assert "reaches before the canonical table's first date 2024-01-01" in caplog.text
    complete = history_timeline(canonical, fs, dt.date(2024, 2, 5), dt.date(2024, 2, 9), 0.25)
    assert not complete.thin and complete.data_starts is None


def test_a_backtest_fold_whose_test_window_falls_into_the_outage_stops_first(spark, tmp_path):
    # it trained the fold, then failed: `the test window (datetime.datetime(2024, 1, 20, 0,
    # 0, tzinfo=datetime.timezone.utc), ...) has no rows`
    from pipelines.backtest.pipeline import run_backtest

    config = _config(tmp_path)
    run_etl(spark, config)
    build_feature_table(spark, config)
    cfg = config.backtest.model_copy(update={
        "folds": 2, "step_days": 2, "train_days": 5, "validation_days": 3, "test_days": 2,
        "test_gap_days": 0, "end": dt.date(2024, 1, 24), "baseline": "none",
    })  # fmt: skip
    with pytest.raises(ConfigError) as info:
        run_backtest(spark, config, cfg, run="b1")
    assert str(info.value) == (
        "backtest fold 0: its test window (2024-01-20 00:00 .. 2024-01-22 00:00) holds no "
        "rows: 2024-01-20..2024-01-21 (2 dates, no rows) (a gap in the data). Move the folds "
        "so that each window holds data (backtest.end / --end, step_days, folds, or the "
        "window lengths), or deliver those dates"
    )
    assert not (Path(config.paths.root) / "reports" / "backtest-b1.json").exists()
