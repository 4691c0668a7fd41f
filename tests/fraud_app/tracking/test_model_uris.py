"""Every model URI form a user copies from MLflow resolves, and names the registered
version it stood for (real MLflow on sqlite; the gate on collected rows, no Spark)."""

from __future__ import annotations

import mlflow
import pytest

from fraud_app.errors import ModelLoadError
from fraud_app.scoring.model_source import load_scoring_model
from fraud_app.tracking.models import resolve_model
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_latest_alias_and_run_uris_resolve_to_their_version(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    validation = h.rows(200, seed=3)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "r1", validation)
    _, tracker = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r2", validation)
    v2 = resolve_model("models:/fraud-ensemble/2", config=cfg).directory / "ensemble.json"

    # `latest` as MLflow reads it (it was "version 'latest' ... does not exist")
    for uri in ("models:/fraud-ensemble/latest", "models:/fraud-ensemble/LATEST"):
        found = resolve_model(uri, config=cfg)
        assert (found.name, found.version) == ("fraud-ensemble", "2")
        assert (found.directory / "ensemble.json").read_text() == v2.read_text()
    # scores and reports name the version behind the alias (they said "champion")
    model = load_scoring_model("models:/fraud-ensemble@champion", cfg)
    assert (model.name, model.version) == ("fraud-ensemble", "2")
    # the run's logged model, as the MLflow UI shows it (it was "holds no ensemble")
    found = resolve_model(f"runs:/{tracker.run_id}/model", config=cfg)
    assert (found.directory / "ensemble.json").read_text() == v2.read_text()

    with pytest.raises(ModelLoadError, match=r"'Production' is not a version; use a version "
                       r"number \(models:/fraud-ensemble/3\), models:/fraud-ensemble/latest"):  # fmt: skip
        resolve_model("models:/fraud-ensemble/Production", config=cfg)
    mlflow.MlflowClient().create_registered_model("empty")
    with pytest.raises(ModelLoadError, match=r"version 'latest' of model 'empty' \(it has no "
                       r"versions\) does not exist"):  # fmt: skip
        resolve_model("models:/empty/latest", config=cfg)
    with pytest.raises(ModelLoadError, match=r"cannot download model runs:/.*/nope"):
        resolve_model(f"runs:/{tracker.run_id}/nope", config=cfg)


@pytest.mark.parametrize("uri", [" models:/fraud-ensemble/1", "runs:/abc/model\n", "\tmodels/r1"])
def test_a_uri_with_surrounding_whitespace_is_named_as_such(tmp_path, monkeypatch, uri):
    """A URI quoted with a space (a DAG's templated ' models:/...') was read as a local
    path and refused as 'does not exist' without naming the space."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="starts or ends with whitespace") as err:
        resolve_model(uri)
    assert repr(uri.strip()) in str(err.value)


def test_a_file_uri_model_is_its_directory_and_a_remote_one_is_named(tmp_path, monkeypatch):
    """review44a: `file:///x/models/r1` (scoring.model, `score --model`) was read by pathlib
    as a relative folder `file:/x/...`: 'does not exist'; `hdfs://nn:8020/.../models/r1`
    said 'does not exist' too, as if the path were wrong."""
    monkeypatch.chdir(tmp_path)
    saved = h.linear_ensemble(1.0).save(tmp_path / "models" / "r1")
    assert resolve_model(f"file://{saved}").directory == saved
    assert load_scoring_model(f"file://{saved}").directory == saved  # `score`'s own path
    with pytest.raises(
        ModelLoadError, match=r"^model 'hdfs://nn:8020/f/models/r1' is on remote storage"
    ):
        resolve_model("hdfs://nn:8020/f/models/r1")
    with pytest.raises(ModelLoadError, match=r"^model 'hdfs://nn:8020/f/m' is on remote storage"):
        load_scoring_model("hdfs://nn:8020/f/m")
