"""The copied store of tests/mlflow_store.py is what MLflow makes of a new store: after
MLflow's first open, a copy dumps (schema, rows, sequences; times masked) exactly as the
store MLflow created and migrated itself, and two copies share nothing. Real MLflow."""

from __future__ import annotations

import mlflow
import pytest

from tests.mlflow_store import dump, open_store


def test_a_copy_opened_by_mlflow_equals_a_store_mlflow_created(mlflow_template, tmp_path):
    db = mlflow_template.copy_to(tmp_path)
    assert dump(db) != mlflow_template.reference  # no Default experiment before the open
    open_store(db)
    assert dump(db) == mlflow_template.reference


def test_copies_are_independent_stores(mlflow_template, tmp_path):
    a, b = (mlflow_template.copy_to(tmp_path / x) for x in "ab")
    client = mlflow.MlflowClient(f"sqlite:///{a}", f"sqlite:///{a}")
    first = client.create_experiment("x", artifact_location=str(tmp_path / "art"))
    client.create_registered_model("m")
    assert first == "1"  # as in a store MLflow created: the Default experiment is 0
    other = mlflow.MlflowClient(f"sqlite:///{b}", f"sqlite:///{b}")
    assert [e.name for e in other.search_experiments()] == ["Default"]
    assert other.search_registered_models() == []
    assert dump(mlflow_template.path) != dump(a)  # the template itself is untouched


def test_a_copy_never_replaces_a_store(mlflow_template, tmp_path):
    mlflow_template.copy_to(tmp_path)
    with pytest.raises(FileExistsError, match=r"mlflow\.db exists: a fresh store is copied"):
        mlflow_template.copy_to(tmp_path)
