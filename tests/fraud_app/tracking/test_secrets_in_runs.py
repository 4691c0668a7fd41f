"""Credentials in the config stay out of what a training run records in MLflow: the
flattened config is logged as params and `config.json`, which anyone who can read the
experiment reads (session 23 probes). Real MLflow on sqlite, no Spark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.tracking.client import ui_hint
from fraud_app.tracking.runs import start_training_run

SECRETS = ("S3SECRETKEY", "ASIATOKEN", "ETLPASSWORD", "QUERYTOKEN", "AZUREKEY")


def _config(root: Path, **more):
    return load_config(None, {
        "paths.root": str(root),
        "spark.conf": {"spark.hadoop.fs.s3a.secret.key": "S3SECRETKEY",
                       "spark.hadoop.fs.s3a.session.token": "ASIATOKEN",
                       "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "AZUREKEY",
                       "spark.sql.shuffle.partitions": "4"},
        "etl.input": "https://bob:ETLPASSWORD@files.example.com/export?token=QUERYTOKEN&day=1",
        **more,
    })  # fmt: skip


def _recorded(cfg, tracker_run_id: str, root: Path) -> tuple[dict[str, str], str, str]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    params = client.get_run(tracker_run_id).data.params
    config_json = Path(
        client.download_artifacts(tracker_run_id, "config.json", str(root))
    ).read_text()
    lineage = Path(client.download_artifacts(tracker_run_id, "lineage.json", str(root))).read_text()
    return params, config_json, lineage


def test_the_logged_config_and_lineage_hold_no_credentials(tmp_path, fresh_store):
    cfg = _config(tmp_path)
    lineage = {"tables": {"canonical": {"path": "s3a://AKIA:LINEAGEPW@bucket/canonical",
                                        "rows": 10, "digest": None}}}  # fmt: skip
    with start_training_run(cfg, "secrets") as tracker:
        tracker.log_config(cfg)
        tracker.log_lineage(lineage)
    params, config_json, lineage_json = _recorded(cfg, tracker.run_id, tmp_path)
    recorded = json.dumps(params) + config_json + lineage_json
    for secret in (*SECRETS, "LINEAGEPW"):
        assert secret not in recorded, secret
    assert params["config.spark.conf.spark.hadoop.fs.s3a.secret.key"] == "***"
    assert params["config.spark.conf.spark.sql.shuffle.partitions"] == "4"  # other values kept
    assert params["config.etl.input"] == ("https://***@files.example.com/export?token=***&day=1")
    assert params["data.canonical.path"] == "s3a://***@bucket/canonical"
    assert json.loads(config_json)["paths"]["root"] == str(tmp_path)  # the config, readable


@pytest.mark.parametrize(
    ("uri", "shown"),
    [("postgresql://alice:DBPW@db.example.com/mlflow",
      "mlflow ui --backend-store-uri 'postgresql://***@db.example.com/mlflow' --host 127.0.0.1 "
      "--port 5000 (with the store's credentials in place of ***)"),
     ("https://alice:WEBPW@mlflow.example.com", "open https://***@mlflow.example.com")],
)  # fmt: skip
def test_the_ui_hint_of_run_does_not_print_the_store_password(tmp_path, uri, shown):
    """`fraud-app run` ends with how to open the runs: it printed a database store's URI
    with its password."""
    assert ui_hint(load_config(None, {"paths.root": str(tmp_path), "tracking.uri": uri})) == shown


def test_mlflow_s_own_log_lines_are_redacted_too(tmp_path, fresh_store, capfd):
    """MLflow's loggers write through a handler of their own (they do not propagate to the
    root logger, whose handlers the CLI gives the redaction): a line of theirs quoting a
    URL with a password was written as it was."""
    import logging

    from fraud_app.tracking.client import connect

    connect(load_config(None, {"paths.root": str(tmp_path)}))  # imports and opens MLflow
    capfd.readouterr()
    logging.getLogger("mlflow.utils.rest_utils").warning(
        "request to %s failed", "https://alice:MLFLOWPW@mlflow.example.com/api?token=QT"
    )
    err = capfd.readouterr().err
    assert "MLFLOWPW" not in err and "token=QT" not in err
    assert "request to https://***@mlflow.example.com/api?token=*** failed" in err
