"""A relative sqlite tracking URI (`tracking.uri: sqlite:///work/mlflow.db`) is read from
the directory fraud-app runs in; run from another one (a cron job's home directory), the
error said `no file work/mlflow.db`, naming neither that directory nor the rule (session
35 probe). No MLflow call, no Spark."""

from __future__ import annotations

import pytest

from fraud_app.errors import TrackingError
from fraud_app.tracking.client import connect
from tests.fraud_app.tracking import helpers as h


def test_a_missing_relative_store_names_the_directory_it_was_read_from(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    elsewhere = tmp_path / "cron home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = h.config(tmp_path / "project", **{"tracking.uri": "sqlite:///work/mlflow.db"})
    with pytest.raises(TrackingError) as caught:
        connect(config, must_exist=True)
    message = str(caught.value)
    assert f"no file {elsewhere / 'work' / 'mlflow.db'}: a relative sqlite path" in message
    assert f"the directory fraud-app runs in, {elsewhere})" in message
