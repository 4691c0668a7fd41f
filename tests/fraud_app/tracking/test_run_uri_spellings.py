"""Spellings of a run's model URI (session 50, left50b): `runs:/<id>/model/` (a trailing
slash) was labelled apart from `runs:/<id>/model` on every scored row and evaluation (and
downloaded into a cache entry of its own), and `runs:/<id>/` (no artifact path) made MLflow
download ALL of the run's artifacts before "holds no ensemble". Real MLflow on sqlite; the
gate scores collected rows (helpers.gate_on_rows), no Spark."""

from __future__ import annotations

import mlflow
import pytest

from fraud_app.errors import ModelLoadError
from fraud_app.scoring.model_source import load_scoring_model
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


def _gated_run(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    _, tracker = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    return cfg, tracker.run_id, cfg.paths.driver_dir().resolve() / "model-cache"


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_run_uri_without_an_artifact_path_is_refused_before_any_download(tmp_path, monkeypatch):
    cfg, run, cache = _gated_run(tmp_path, monkeypatch)

    # no artifact path: refused before the store is asked for any file (the download
    # made the model cache; here nothing is made), naming the run's model
    for uri in (f"runs:/{run}/", f"runs:/{run}", f"runs:/{run}//"):
        with pytest.raises(ModelLoadError) as e:
            load_scoring_model(uri, cfg)
        assert f"names run '{run}' but no artifact path" in str(e.value), uri
        assert f"runs:/{run}/model" in str(e.value)
    assert not cache.exists()


@pytest.mark.usefixtures("fresh_store")
def test_a_trailing_slash_names_the_same_model(tmp_path, monkeypatch):
    cfg, run, cache = _gated_run(tmp_path, monkeypatch)
    # an unregistered logged model: labelled by its URI, one spelling for both
    mlflow.MlflowClient().delete_model_version("fraud-ensemble", "1")
    plain = load_scoring_model(f"runs:/{run}/model", cfg)
    slashed = load_scoring_model(f"runs:/{run}/model/", cfg)
    assert (slashed.uri, slashed.name, slashed.version) == (
        f"runs:/{run}/model", f"runs:/{run}/model", "unregistered"
    )  # fmt: skip
    assert (plain.name, plain.version) == (slashed.name, slashed.version)
    assert slashed.directory == plain.directory  # one cache entry, not two
    assert len(list(cache.iterdir())) == 1
