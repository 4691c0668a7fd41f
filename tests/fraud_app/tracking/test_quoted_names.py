"""A registered model name holding a quote (session 21 probe): `fraud-app models --name
"o'brien"` and `models:/o'brien/latest` stopped with MLflow's `Invalid clause(s) in filter
string` traceback, since the name was pasted between single quotes. Real MLflow on sqlite."""

from __future__ import annotations

import mlflow
import pytest

from fraud_app.errors import ModelLoadError
from fraud_app.tracking.models import resolve_model
from fraud_app.tracking.registry import list_versions, versions_filter

pytestmark = pytest.mark.integration


def test_names_with_quotes_are_listed_and_resolved(tmp_path, monkeypatch, mlflow_template) -> None:
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    mlflow_template.copy_to(tmp_path, "m.db")  # a new store, not migrated again
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/m.db")
    # the client reads the variable unless an earlier test of this process set the
    # process's URIs (a `server` test left http://127.0.0.1:<its port>: refused); restored
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    client = mlflow.MlflowClient()
    for name in ("o'brien", 'say "hi"', "plain"):
        client.create_registered_model(name)
        client.create_model_version(name, source=str(tmp_path / "none"))
        client.create_model_version(name, source=str(tmp_path / "none"))
        assert [r["version"] for r in list_versions(client, name)] == ["2", "1"]
    # found v2, whose files were never there
    with pytest.raises(ModelLoadError, match=r"models:/o'brien/latest: .* records its files under"):
        resolve_model("models:/o'brien/latest")


def test_a_name_with_both_quotes_is_refused_in_words() -> None:
    assert versions_filter("plain") == "name = 'plain'"
    assert versions_filter("o'brien") == 'name = "o\'brien"'
    with pytest.raises(ModelLoadError, match=r"holds both ' and \"; rename"):
        versions_filter('it\'s "x"')
