"""`fraud-app backtest` and `fraud-app tune` on a small hand-made feature table."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.evaluation.config import BacktestSection, TuneSection, TuneSpace
from pipelines.backtest.pipeline import known_labels, leakage_check, run_backtest
from pipelines.backtest.report import format_table
from pipelines.tune.pipeline import run_tune
from pipelines.tune.space import apply_point, plan_trials
from tests.pipelines.tune_data import DEMO, T0, feature_table, small_config

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def config(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("bt")
    return small_config(spark, root, **{"training.distributed.early_stopping.patience": 2})


@pytest.mark.slow  # trains 2 folds x (ensemble + refit + GBT): ~1-3 min on the shared machine
def test_backtest_folds_never_train_past_their_cutoff(spark, config, tmp_path):
    cfg = BacktestSection(folds=2, step_days=5, train_days=14, validation_days=5, test_days=5,
                          baseline="gbt", gbt={"max_iter": 5, "max_depth": 3}, k=10)  # fmt: skip
    report = run_backtest(spark, config, cfg, run="bt1")
    assert len(report["folds"]) == 2 and report["summary"]["leakage_checks_ok"]
    delay = dt.timedelta(days=3)
    for fold in report["folds"]:
        check, cutoff = fold["leakage_check"], dt.datetime.fromisoformat(fold["windows"]["cutoff"])
        assert check["ok"] and check["rows"] > 0
        assert dt.datetime.fromisoformat(check["max_timestamp"]) + delay <= cutoff
        assert dt.datetime.fromisoformat(check["max_fraud_label_known_at"]) <= cutoff
        assert fold["refit"] and all(b for b in fold["best_iterations"])
        # the data each window held, beside the configured window (session 49)
        w, covered = fold["windows"], fold["covered"]
        assert covered["test"]["rows"] == fold["test_rows"]
        assert check["rows"] >= covered["train"]["rows"] > 0  # refit: train + validation
        for name in ("train", "validation", "test"):
            held = covered[name]
            assert w[f"{name}_end"] > held["last"] >= held["first"]
            assert w[f"{name}_start"] is None or held["first"] >= w[f"{name}_start"]
        for model in ("ensemble", "baseline"):
            m = fold["models"][model]
            assert 0 <= m["average_precision"] <= 1 and m["roc_auc"] > 0.6
            assert len(m["card_precision_per_day"]) == 5 and not math.isnan(m["recall_at_budget"])
    folds = report["folds"]
    assert folds[1]["windows"]["cutoff"] > folds[0]["windows"]["cutoff"]
    s = report["summary"]["ensemble"]["average_precision"]
    aps = [f["models"]["ensemble"]["average_precision"] for f in folds]
    assert s["mean"] == pytest.approx(np.mean(aps)) and s["std"] == pytest.approx(
        np.std(aps, ddof=1)
    )
    table = format_table(report)
    assert "mean" in table and "baseline" in table and "leakage checks: ok" in table
    assert "configured [start, end) UTC" in table and "data: first .. last row" in table
    assert json.loads(Path(report["report_path"]).read_text())["summary"]["leakage_checks_ok"]
    # tracking is on in the demo config: a parent run, one nested run per fold (before:
    # nothing of a backtest reached MLflow)
    from fraud_app.tracking.client import client, tracking_uri

    mc = client(tracking_uri(config))
    exp = mc.get_experiment_by_name(config.tracking.experiment).experiment_id
    (parent,) = mc.search_runs([exp], "tags.`fraud_app.run` = 'backtest-bt1'")
    assert parent.info.status == "FINISHED" and parent.data.tags["leakage_checks_ok"] == "True"
    assert parent.data.metrics["ensemble_average_precision_mean"] == pytest.approx(s["mean"])
    assert parent.data.params["folds"] == "2"
    kids = mc.search_runs([exp], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in kids) == ["fold-00", "fold-01"]
    by_fold = {int(r.data.tags["fold"]): r for r in kids}
    for fold in folds:
        logged = by_fold[fold["fold"]]
        assert logged.data.params["cutoff"] == fold["windows"]["cutoff"]
        for model in ("ensemble", "baseline"):
            got = logged.data.metrics[f"{model}_average_precision"]
            assert got == pytest.approx(fold["models"][model]["average_precision"])
    artifact = mc.download_artifacts(parent.info.run_id, "backtest.json", str(tmp_path))
    assert (
        json.loads(Path(artifact).read_text())["summary"]
        == json.loads(Path(report["report_path"]).read_text())["summary"]
    )


def test_leakage_check_catches_labels_not_yet_known(spark, config):
    """Harness self-test: the same rows with labels NOT hidden at the cut-off fail the check."""
    df = spark.read.parquet(str(config.features.output))
    cutoff = T0 + dt.timedelta(days=20)
    before = df.where(df.timestamp < dt.datetime(2024, 1, 18, tzinfo=dt.UTC))
    delay_s = 3 * 86_400
    assert not leakage_check(before, cutoff, delay_s)["ok"]  # late-confirmed frauds labelled 1
    assert leakage_check(known_labels(before, cutoff, delay_s), cutoff, delay_s)["ok"]
    late = df.where(
        (df.timestamp >= dt.datetime(2024, 1, 19, tzinfo=dt.UTC)) & (df.timestamp < cutoff)
    )
    assert not leakage_check(known_labels(late, cutoff, delay_s), cutoff, delay_s)["ok"]  # < delay


@pytest.mark.slow  # two ensemble trainings
def test_tune_selects_on_validation_ap_and_writes_a_loadable_config(spark, config, tmp_path):
    space = TuneSpace(hidden=[(8,), (4,)], dropout=[0.0], learning_rate=[1e-3, 1e-2], pos_weight=[1.0],
                      loss=["bce"], n_subsets=[1], normal_ratio=[None])  # fmt: skip
    grid = plan_trials(TuneSection(method="grid", space=space))
    assert len(grid) == 4
    drawn = plan_trials(TuneSection(method="random", trials=2, seed=5, space=space))
    assert drawn == plan_trials(TuneSection(method="random", trials=2, seed=5, space=space))
    assert len({json.dumps(p) for p in drawn}) == 2
    assert apply_point(config, grid[1]).training.optimizer.learning_rate == 1e-2
    cfg = TuneSection(
        method="random", trials=2, seed=5, space=space, output=str(tmp_path / "best.yaml")
    )
    temp = spark.sparkContext._temp_dir  # PySpark's broadcast files
    before = set(os.listdir(temp))
    report = run_tune(spark, config, cfg, run="tu1")
    # each trial's scoring broadcast is destroyed with it (one file a trial stayed until
    # the session ended before session 32)
    assert set(os.listdir(temp)) <= before
    aps = [t["validation"]["average_precision"] for t in report["trials"]]
    assert len(aps) == 2 and report["best"]["validation"]["average_precision"] == max(aps)
    best = load_config(tmp_path / "best.yaml")
    assert list(best.training.model.hidden) == list(report["best"]["params"]["hidden"])
    assert best.training.optimizer.learning_rate == report["best"]["params"]["learning_rate"]
    assert yaml.safe_load((tmp_path / "best.yaml").read_text())["splits"]["test_days"] == 5
    # tracking is on in the demo config: one parent run, each trial a nested run under it
    from fraud_app.tracking.client import client, tracking_uri

    mc = client(tracking_uri(config))
    exp = mc.get_experiment_by_name(config.tracking.experiment).experiment_id
    (parent,) = mc.search_runs([exp], "tags.`fraud_app.run` = 'tune-tu1'")
    trials = mc.search_runs([exp], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in trials) == ["trial-000", "trial-001"]
    logged = sorted(r.data.metrics["validation_average_precision"] for r in trials)
    assert logged == pytest.approx(sorted(aps))


def test_a_fold_error_names_the_fold_and_its_windows(spark, tmp_path):
    """A fold whose train window holds no known fraud failed naming only the balancing."""
    from fraud_app.errors import EmptyInputError

    feature_table(spark, tmp_path / "features", days=6, per_day=10)
    no_fraud = spark.read.parquet(str(tmp_path / "features")).withColumn("label", F.lit(0))
    no_fraud.write.parquet(str(tmp_path / "clean"))
    (tmp_path / "clean" / "_features.json").write_bytes(
        (tmp_path / "features" / "_features.json").read_bytes()
    )
    config = load_config(DEMO, {"paths.root": str(tmp_path),
                                "features.output": str(tmp_path / "clean")})  # fmt: skip
    cfg = BacktestSection(folds=1, train_days=2, validation_days=1, test_days=1,
                          test_gap_days=0, baseline="none")  # fmt: skip
    with pytest.raises(
        EmptyInputError,
        match=r"^backtest fold 0 \(train 2024-01-03\.\.2024-01-05, validation 2024-01-05\.\."
        r"2024-01-06, test 2024-01-06\.\.2024-01-07, labels as known at 2024-01-06\): "
        r"balancing strategy 'unionpay_subsets': the data holds no fraud",
    ):
        run_backtest(spark, config, cfg, run="t")
