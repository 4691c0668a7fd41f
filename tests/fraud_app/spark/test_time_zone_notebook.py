"""A notebook's session and process in other zones than UTC (session 24 probes).

The steps a notebook calls on its own session set it to UTC (`utc_session`, as `run_etl`,
`build_feature_table` and `run_scoring` did already): under Asia/Kolkata the generated raw
timestamps were written 5:30 h late and the training split's windows moved a day. What
reaches Python from Spark is read as UTC whatever the Python process's zone (an analyst's
laptop): PySpark hands collected timestamps over in the process's local zone, which moved
the split summary's times and the backtest's data end."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fraud_app.config import load_config
from fraud_app.data.generator import generate_raw
from fraud_app.errors import ConfigError, FraudAppError
from fraud_app.evaluation.config import BacktestSection
from fraud_app.features.splits import split_by_time
from fraud_app.scoring.evaluate import run_evaluation
from fraud_app.spark.session import SESSION_TIME_ZONE
from fraud_app.validation.validate import validate_canonical
from pipelines.backtest.pipeline import run_backtest
from pipelines.training.pipeline import run_training
from pipelines.tune.pipeline import run_tune

pytestmark = pytest.mark.spark
KOLKATA = "Asia/Kolkata"  # +05:30: 20:00 UTC is 01:30 the next day there


@pytest.fixture
def kolkata_session(spark):
    spark.conf.set(SESSION_TIME_ZONE, KOLKATA)
    yield spark
    spark.conf.set(SESSION_TIME_ZONE, "UTC")


def _late_rows(spark):
    """Rows on 2024-01-01 .. 2024-01-20, the last at 20:00 UTC (01:30 on the 21st in Kolkata)."""
    t0 = dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)
    rows = [(t0 + dt.timedelta(days=d), d % 2) for d in range(19)]
    rows.append((dt.datetime(2024, 1, 20, 20, tzinfo=dt.UTC), 1))
    return spark.createDataFrame(rows, "timestamp timestamp, label int")


def test_generated_raw_timestamps_are_utc_in_a_session_of_another_zone(spark, kolkata_session):
    cfg = load_config(None, {"generate.n_transactions": 40, "generate.n_cards": 10,
                             "generate.n_merchants": 10, "generate.partitions": 1})  # fmt: skip
    got = sorted(
        tuple(r) for r in generate_raw(spark, cfg.generate).select("txn_id", "ts").collect()
    )
    assert spark.conf.get(SESSION_TIME_ZONE) == "UTC"  # set, with a WARNING
    want = sorted(
        tuple(r) for r in generate_raw(spark, cfg.generate).select("txn_id", "ts").collect()
    )
    assert got == want  # were 5:30 h later: Kolkata wall times without an offset


def test_split_windows_do_not_move_with_the_session_zone(spark, kolkata_session):
    cfg = load_config(None, {"splits.test_days": 3, "splits.validation_days": 3}).splits
    split = split_by_time(_late_rows(spark), cfg, label_delay_days=1)
    # the data's last UTC date is 2024-01-20: test = the 18th .. the 20th (was the 19th .. 21st)
    assert split.summary["windows"]["test"]["end"] == "2024-01-21T00:00:00+00:00"
    assert split.summary["windows"]["test"]["rows"] == 3


def test_split_summary_times_are_utc_in_a_process_of_another_zone(spark, kolkata_process):
    cfg = load_config(None, {"splits.test_days": 3, "splits.validation_days": 3}).splits
    summary = split_by_time(_late_rows(spark), cfg, label_delay_days=1).summary
    assert summary["data_last"] == "2024-01-20 20:00:00"  # was '2024-01-21 01:30:00'
    assert summary["data_first"] == "2024-01-01 10:00:00"
    assert summary["windows"]["test"]["last"] == "2024-01-20 20:00:00"


def _one_day_table(spark, path):
    """A feature table of 10 rows on 2024-01-01, 01:00 .. 19:00 and 20:00 UTC (the last is
    01:30 on 2024-01-02 in Kolkata)."""
    t0 = dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC)
    times = [t0 + dt.timedelta(hours=2 * i) for i in range(9)] + [t0 + dt.timedelta(hours=19)]
    rows = [(f"t{i}", "c", t, i % 2, t + dt.timedelta(days=30), [0.1 * i] * 4)
            for i, t in enumerate(times)]  # fmt: skip
    schema = ("transaction_id string, card_id string, timestamp timestamp, label int, "
              "label_time timestamp, features array<float>")  # fmt: skip
    spark.createDataFrame(rows, schema).write.parquet(str(path))
    names = [f"f{i}" for i in range(4)]
    (path / "_features.json").write_text(
        json.dumps({"version": 1, "feature_names": names, "vector_column": "features"})
    )


def test_backtest_folds_end_at_the_data_s_utc_date_in_a_process_of_another_zone(
    spark, tmp_path, kolkata_process
):
    # a fold of 1 + 1 + 1 days ending at the data's end trains before its first row: the
    # error names the fold's dates, from the data's last UTC date
    _one_day_table(spark, tmp_path / "features")
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False,
                                "features.output": str(tmp_path / "features")})  # fmt: skip
    cfg = BacktestSection(folds=1, train_days=1, validation_days=1, test_days=1,
                          test_gap_days=0, baseline="none")  # fmt: skip
    # the data ends on 2024-01-01 (UTC): test 01-01, validation 12-31, train 12-30 .. 12-31
    # (it took 2024-01-02 for the end: the last row read as a Kolkata time)
    with pytest.raises(ConfigError, match=r"its train window ends 2023-12-31, before the first"):
        run_backtest(spark, config, cfg, run="tz")


@pytest.mark.parametrize("step", ["train", "backtest", "tune", "evaluate", "validate"])
def test_the_steps_a_notebook_calls_set_its_session_to_utc(spark, tmp_path, kolkata_session, step):
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    calls = {
        "train": lambda: run_training(spark, config, run="r"),
        "backtest": lambda: run_backtest(spark, config, BacktestSection(), run="b"),
        "tune": lambda: run_tune(spark, config, config.tune, run="t"),
        "evaluate": lambda: run_evaluation(
            spark, config, model_uri=str(tmp_path / "none"), start="2024-01-01", end="2024-01-02"
        ),
        "validate": lambda: validate_canonical(spark, _late_rows(spark), config),
    }
    with pytest.raises(FraudAppError):  # no feature table / model here: each stops early,
        calls[step]()  # after setting the zone
    assert spark.conf.get(SESSION_TIME_ZONE) == "UTC"
