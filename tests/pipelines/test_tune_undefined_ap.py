"""`fraud-app tune` on a validation window without frauds: its AP is undefined for every
trial. Every trial trained and printed `validation AP nan`, and trial 0 was written as the
best config."""

from __future__ import annotations

import pytest
import yaml
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.errors import EmptyInputError
from pipelines.cli import main
from pipelines.tune.pipeline import format_ap, run_tune, select_best
from tests.pipelines.tune_data import DEMO, T0, feature_table


def _trial(i, ap):
    return {"trial": i, "params": {"dropout": i}, "validation": {"average_precision": ap}}


def test_an_undefined_trial_is_never_the_best_and_is_named_not_printed_as_nan():
    nan = float("nan")
    for order in ([nan, 0.2, None, 0.1], [0.1, None, 0.2, nan], [None, nan, 0.2]):
        trials = [_trial(i, ap) for i, ap in enumerate(order)]
        assert select_best(trials)["validation"]["average_precision"] == 0.2
    assert select_best([_trial(0, nan), _trial(1, None)]) is None
    assert format_ap(nan) == format_ap(None) == "undefined (no frauds in validation)"
    assert format_ap(0.25) == "0.2500"


@pytest.fixture(scope="module")
def no_fraud_root(spark, tmp_path_factory):
    """A feature table whose frauds all fall in its first 20 of 40 days: the default
    windows (test 5 days, gap 3, validation 5) put none in validation."""
    root = tmp_path_factory.mktemp("tune-nofraud")
    feature_table(spark, root / "all")
    df = spark.read.parquet(str(root / "all"))
    late = F.col("timestamp") >= F.lit(T0.replace(day=21)).cast("timestamp")
    df.withColumn("label", F.when(late, F.lit(0)).otherwise(F.col("label"))).write.parquet(
        str(root / "features")
    )
    (root / "features" / "_features.json").write_text((root / "all" / "_features.json").read_text())
    return root


def _config(root):
    return {
        "paths.root": str(root),
        "features.output": str(root / "features"),
        "features.label_delay_days": 3,
        "splits.test_days": 5,
        "splits.validation_days": 5,
        "tracking.enabled": False,
    }


@pytest.mark.spark
def test_tune_on_a_validation_window_without_frauds_stops_before_any_trial(spark, no_fraud_root):
    config = load_config(DEMO, _config(no_fraud_root))
    with pytest.raises(EmptyInputError) as got:
        run_tune(spark, config, config.tune, run="t1")
    msg = str(got.value)
    assert msg.startswith("tune: the validation window 2024-01-28T00:00:00+00:00 .. "
                          "2024-02-02T00:00:00+00:00 (")  # fmt: skip
    assert (
        "holds no fraud (label = 1), so the validation AP that tune selects on is "
        "undefined for every trial; nothing was trained" in msg
    )
    assert "more splits.validation_days or another splits.end" in msg
    reports = no_fraud_root / "reports"
    assert not list(reports.glob("tune-*")) if reports.exists() else True


@pytest.mark.spark
def test_the_cli_says_so_in_one_line_and_exits_2(spark, no_fraud_root, tmp_path, capsys):
    cfg_file = tmp_path / "c.yaml"
    data: dict = {}
    for key, value in _config(no_fraud_root).items():
        section, name = key.split(".")
        data.setdefault(section, {})[name] = value
    cfg_file.write_text(yaml.safe_dump(data))
    assert main(["-c", str(cfg_file), "tune", "--run", "t2", "--method", "random",
                 "--trials", "2"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: tune: the validation window ") and "Traceback" not in err
    assert "undefined for every trial; nothing was trained" in err[-1]
