"""paths.root as a `file:` URI (`file:///d`, `file:/d`, `file://localhost/d`, as cluster
users write roots): what Python opens is the local directory /d, what Spark reads keeps the
URI. Before (fileroot43), only the locks were under /d: pathlib kept the text `file:/d`, so
the embedded MLflow store became `sqlite:////<cwd>/file:/d/mlflow.db`, the model cache,
reports, checkpoints and dashboards went to a folder `file:` under the working directory,
and a `file:` URI in `paths.models` was joined to the root. Real files, a real sqlite
MLflow store; no mocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.config import AppConfig
from fraud_app.errors import RunExistsError
from fraud_app.tracking.client import default_artifact_location, open_store, tracking_uri
from fraud_app.tracking.models import _cache_root
from fraud_app.tracking.retention import RegistryHolds
from fraud_app.uris import joinable
from pipelines.prune import inventory
from pipelines.reporting import dashboard_sources
from pipelines.training import run_names

FORMS = ["file://{}", "file:{}", "file://localhost{}"]


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """A working directory of its own: nothing may land in it."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return here


def _config(root: Path, form: str, **paths) -> AppConfig:
    return AppConfig.model_validate({"paths": {"root": form.format(root), **paths}})


@pytest.mark.parametrize("form", FORMS)
def test_every_local_place_of_a_file_root_is_under_it(tmp_path, cwd, form):
    root = tmp_path / "d"
    config = _config(root, form)
    assert tracking_uri(config) == f"sqlite:///{root}/mlflow.db"  # was <cwd>/file:/d/...
    assert default_artifact_location(config) == str(root / "mlartifacts")
    assert _cache_root(config) == root / "model-cache"
    assert config.paths.local("reports") == root / "reports"
    assert run_names.report_path(config, "r1") == root / "reports" / "training-r1.json"
    sources = dashboard_sources(config)
    assert (sources.reports, sources.output) == (root / "reports", root / "reports" / "dashboards")
    assert (sources.models, sources.scores) == (root / "models", root / "test-scores")
    assert (sources.canonical, sources.features) == (root / "canonical", root / "features")
    # Spark keeps the URI: on a cluster whose default file system is HDFS, /d is HDFS
    uri = joinable(form.format(root))  # the URI as written (file://localhost/d: file:///d)
    assert config.feature_table() == f"{uri}/features"
    assert config.etl_tables() == (f"{uri}/canonical", f"{uri}/quarantine")
    assert not list(cwd.iterdir())


@pytest.mark.parametrize("form", FORMS)
def test_a_finished_run_under_a_file_root_is_seen_and_pruned_from_there(tmp_path, cwd, form):
    root = tmp_path / "d"
    (root / "models" / "r1").mkdir(parents=True)
    (root / "models" / "r1" / "ensemble.json").write_text("{}")
    (root / "checkpoints" / "r1").mkdir(parents=True)
    (root / "reports").mkdir()
    (root / "reports" / "training-r1.json").write_text("{}")
    (root / "model-cache" / "m-1").mkdir(parents=True)
    config = _config(root, form)
    with pytest.raises(RunExistsError, match="training-r1.json"):  # base: not seen, retrained
        run_names.check_run_free(config, "r1")
    runs = inventory.training_runs(config, RegistryHolds(), None)
    assert [(i.name, set(i.paths)) for i in runs.items] == [
        ("r1", {root / "models" / "r1", root / "reports" / "training-r1.json",
                root / "checkpoints" / "r1"})
    ]  # fmt: skip
    cache = inventory.model_cache(config, RegistryHolds())
    assert [i.paths for i in cache.items] == [(root / "model-cache" / "m-1",)]
    assert not list(cwd.iterdir())


def test_a_file_uri_in_a_paths_value_is_not_joined_to_the_root(tmp_path, cwd):
    root, models = tmp_path / "d", tmp_path / "elsewhere" / "models"
    for form in FORMS:
        config = _config(root, form, models=form.format(models))
        assert config.paths.resolve("models") == form.format(models)  # was <root>/file:/...
        assert config.paths.local("models") == models
    plain = AppConfig.model_validate({"paths": {"root": "work", "models": "m"}})
    assert plain.paths.resolve("models") == "work/m"
    assert plain.paths.local("models") == Path("work/m")


@pytest.mark.parametrize("form", FORMS)
def test_the_embedded_mlflow_store_of_a_file_root_is_root_mlflow_db(
    tmp_path, cwd, mlflow_template, form
):
    root = tmp_path / "d"
    mlflow_template.copy_to(root)
    store = open_store(_config(root, form))
    assert store.uri == f"sqlite:///{root}/mlflow.db"
    assert store.artifact_location in (str(root / "mlartifacts"), (root / "mlartifacts").as_uri())
    assert not list(cwd.iterdir())  # base: <cwd>/file:/<root>/mlflow.db, a new store
