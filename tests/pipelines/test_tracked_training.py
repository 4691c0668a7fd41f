"""A tracked training run read back through MlflowClient: real Spark, real MLflow on sqlite.

The feature table is written directly (30 days of synthetic rows, 4 features), so the
test pays for training and tracking, not for ETL and feature computation.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import mlflow
import numpy as np
import pytest
from pyspark.sql import functions as F

from dlcore.backends import get_ops
from fraud_app.config import load_config
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.tracking import lineage
from fraud_app.tracking.models import resolve_model_dir
from pipelines.training import nodes
from pipelines.training.feature_input import read_features
from pipelines.training.pipeline import run_training
from pipelines.training.report import ties_over_quota

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
NAMES = ["amount_z", "velocity", "night", "foreign"]


def _write_tables(spark, root: Path, n: int = 3000) -> None:
    rng = np.random.default_rng(5)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(n):
        ts = start + dt.timedelta(seconds=int(rng.integers(0, 30 * 86400)))
        y = float(rng.random() < 0.05)
        x = rng.standard_normal(len(NAMES)) + y * np.array([2.0, 1.0, 0.0, 0.5])
        rows.append((f"t{i}", f"c{i % 300}", ts, y, x.astype(np.float32).tolist()))
    schema = "transaction_id string, card_id string, timestamp timestamp, label double, features array<float>"
    # the real tables' layout: a date partition; one column per feature and their vector
    df = spark.createDataFrame(rows, schema).withColumn("event_date", F.to_date("timestamp"))
    df.drop("features").write.parquet(str(root / "canonical"))
    per_feature = [F.col("features")[i].alias(n) for i, n in enumerate(NAMES)]
    df.select("*", *per_feature).write.parquet(str(root / "features"))
    (root / "features" / "_features.json").write_text(json.dumps({"feature_names": NAMES}))


def _config(root: Path, **extra):
    return load_config(None, {
        "paths.root": str(root),
        "features.label_delay_days": 2,
        "features.spec_dir": str(Path(__file__).resolve().parents[2] / "feature_specs"),
        "splits.test_days": 4, "splits.validation_days": 4,
        "balancing.unionpay_subsets.n_subsets": 2,
        "balancing.unionpay_subsets.normal_ratio": 5,
        "training.checkpoint": False,
        "training.model.hidden": [8],
        "training.distributed.iterations": 20,
        "training.distributed.group_size": 10,
        "training.distributed.global_batch_size": 64,
        "training.distributed.warmup_iterations": 0,
        # no refit: a refit v1 trained on the validation window, so r2's gate cannot score
        # it there (the session 18 rule: champion_ap None); this test compares that figure
        "training.refit.enabled": False,
        "baselines.logreg.max_iter": 10,
        "baselines.gbt.max_iter": 3,
        "baselines.gbt.max_depth": 2,
        **extra,
    })  # fmt: skip


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_training_run_is_one_tracked_run_with_nested_runs(spark, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    caplog.set_level(logging.WARNING, logger="pipelines.training.report")
    _write_tables(spark, tmp_path)
    report = run_training(spark, _config(tmp_path), run="r1")
    saved = json.loads(Path(report.report_path).read_text())
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path.resolve()}/mlflow.db")
    run = client.get_run(report.mlflow_run_id)

    params = run.data.params
    assert params["config.training.model.hidden"] == "[8]"
    assert params["data.features.rows"] == params["data.canonical.rows"] == "3000"
    assert len(params["data.features.digest"]) == 16 and params["data.feature_spec.version"] == "1"
    assert params["n_features"] == "4"
    assert params["dlcore.backend"] == saved["dlcore_backend"] == get_ops().name
    inputs = {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs}
    assert inputs == {"canonical": params["data.canonical.digest"],
                      "features": params["data.features.digest"]}  # fmt: skip
    assert run.data.metrics["test_average_precision"] == pytest.approx(
        saved["metrics"]["test"]["average_precision"])  # fmt: skip

    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    by_name = {c.info.run_name: c for c in children}
    assert set(by_name) == {"member-00", "member-01", "baseline-logreg", "baseline-gbt"}
    history = client.get_metric_history(by_name["member-00"].info.run_id, "train_loss")
    assert [m.step for m in history] == [h["end_iteration"] for h in saved["members"][0]["history"]]
    assert [m.value for m in history] == pytest.approx(
        [h["loss"] for h in saved["members"][0]["history"]]
    )
    for key in ("samples_per_s", "compute_share", "sync_share", "scheduling_share"):
        assert client.get_metric_history(by_name["member-01"].info.run_id, key)
    gbt = by_name["baseline-gbt"].data
    assert gbt.params["max_depth"] == "2"
    assert gbt.metrics["test_average_precision"] == pytest.approx(
        saved["baselines"]["gbt"]["test"]["average_precision"])  # fmt: skip
    # left50a: each recall's alert count and quota, in the report and in MLflow; a model
    # over its quota (ties at a cut-off: a 3-tree depth-2 GBT has few scores) is warned of
    over = set()
    for model, figures in {"ensemble": saved["metrics"], **saved["baselines"]}.items():
        test = figures["test"]  # the daily budget's recall is the ensemble's only
        if model == "ensemble":
            assert test["alerts_at_budget"] >= test["alert_quota"] >= 1
        assert test["alerts_at_alert_0.01"] >= test["quota_at_alert_0.01"] >= 1
        over |= (
            {model} if ties_over_quota(test) or ties_over_quota(figures["validation"]) else set()
        )
    gbt_test = saved["baselines"]["gbt"]["test"]
    assert gbt.metrics["test_alerts_at_alert_0.01"] == gbt_test["alerts_at_alert_0.01"]
    assert run.data.metrics["test_alert_quota"] == saved["metrics"]["test"]["alert_quota"]
    assert (
        run.data.metrics["test_quota_at_alert_0.01"]
        == saved["metrics"]["test"]["quota_at_alert_0.01"]
    )
    warned = {r.getMessage().split(": ")[1] for r in caplog.records
              if r.getMessage().startswith("train r1: ")}  # fmt: skip
    assert warned == over, (warned, over)

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "lineage.json", "feature_names.json", "registry.json",
            "training-r1.json"} <= artifacts  # fmt: skip

    assert saved["registry"]["decision"] == "champion" and saved["registry"]["version"] == "1"
    assert report.model_uri == "models:/fraud-ensemble/1"
    scores = spark.read.parquet(str(tmp_path / "test-scores" / "r1"))
    assert {"baseline_logreg", "baseline_gbt", "fraud_score"} <= set(scores.columns)
    assert scores.count() == saved["metrics"]["test"]["rows"]

    # A second run meets champion v1: the gate scores v1 on the validation rows training
    # collected (on the tracking thread); the figure equals v1 scored by Spark on the window.
    cfg = _config(tmp_path, **{"baselines.enabled": False})
    gate = run_training(spark, cfg, run="r2").registry
    assert gate["version"] == "2" and gate["champion_version"] == "1", gate
    df, _ = read_features(spark, cfg)
    splits = nodes.split(df, cfg.splits, label_delay_days=cfg.features.label_delay_days)
    v1 = FraudEnsemble.load(resolve_model_dir("models:/fraud-ensemble/1", config=cfg))
    ap = nodes.evaluate(nodes.score(splits.validation, v1, features_col="features"))
    assert gate["champion_ap"] == pytest.approx(ap["average_precision"], abs=1e-12)


def test_tracking_disabled_leaves_no_store(spark, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _write_tables(spark, tmp_path, n=1500)
    cfg = _config(tmp_path, **{"tracking.enabled": False, "baselines.enabled": False})
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    report = run_training(spark, cfg, run="off")
    # left50a: when the run ended, in the report (the dashboards read it, not the file's time)
    finished = dt.datetime.fromisoformat(
        json.loads(Path(report.report_path).read_text())["finished_at"]
    )
    assert finished.utcoffset() == dt.timedelta(0) and before <= finished <= dt.datetime.now(dt.UTC)
    assert report.mlflow_run_id is None and report.registry is None and report.baselines == {}
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlartifacts").exists()
    # the report says what the run computed with, also without MLflow's lineage.json
    env = json.loads(Path(report.report_path).read_text())["environment"]
    assert env["versions"]["numpy"] == np.__version__
    assert env["dlcore"]["backend"] == get_ops().name and env["dlcore"]["library"]
    assert env["git"] == lineage.git_state()
