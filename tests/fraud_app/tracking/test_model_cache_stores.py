"""The model cache of a registered version whose source is not a logged model (a version
registered by hand from a folder): it was keyed `<name>-v<version>` alone (session 27
probe), so after `tracking.uri` moved to another store, or the name was deleted and
registered again, `models:/fraud-ensemble/1` served the first model from the cache, and
its scores, without a word. Real MLflow on sqlite (two stores), no Spark."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from dlcore.errors import SerializationError
from fraud_app.errors import ModelLoadError
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.tracking.models import resolve_model
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


def _register(uri: str, source) -> None:
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    if not client.search_registered_models(filter_string="name = 'fraud-ensemble'"):
        client.create_registered_model("fraud-ensemble")
    assert client.create_model_version("fraud-ensemble", source=str(source)).version == 1


def _score(directory) -> float:
    return float(FraudEnsemble.load(directory).predict_proba(np.ones((1, h.D), np.float32))[0])


def test_version_1_of_another_store_is_not_served_from_the_cache(
    tmp_path, monkeypatch, mlflow_template
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ranks_first, ranks_last = tmp_path / "model-a", tmp_path / "model-b"
    h.linear_ensemble(2.0).save(ranks_first)
    h.linear_ensemble(-2.0).save(ranks_last)
    configs = {}
    for name, source in (("a", ranks_first), ("b", ranks_last)):
        uri = f"sqlite:///{mlflow_template.copy_to(tmp_path / f'store-{name}')}"
        _register(uri, source)
        configs[name] = h.config(tmp_path / "project", **{"tracking.uri": uri})  # one cache

    a = resolve_model("models:/fraud-ensemble/1", config=configs["a"])
    b = resolve_model("models:/fraud-ensemble/1", config=configs["b"])
    assert _score(a.directory) == pytest.approx(_score(ranks_first))
    assert _score(b.directory) == pytest.approx(_score(ranks_last))  # was store a's model
    assert a.directory != b.directory and (a.version, b.version) == ("1", "1")
    again = resolve_model("models:/fraud-ensemble/1", config=configs["a"])
    assert again.directory == a.directory  # still cached: not downloaded again

    # one store: the name deleted and registered again, version 1 is another model
    uri = configs["a"].tracking.uri
    mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).delete_registered_model(
        "fraud-ensemble"
    )
    _register(uri, ranks_last)
    renewed = resolve_model("models:/fraud-ensemble/1", config=configs["a"])
    assert _score(renewed.directory) == pytest.approx(_score(ranks_last))


def test_a_damaged_cache_entry_is_downloaded_again(tmp_path, monkeypatch, mlflow_template, caplog):
    """A cached copy truncated or short of a member (a full disk, a cleaner, a partial
    copy) was refused naming the file until the user deleted the entry by hand; the
    registry still holds the model, so the copy is downloaded again, with one WARNING."""
    import logging

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    source = tmp_path / "model"
    h.linear_ensemble(2.0).save(source)
    uri = f"sqlite:///{mlflow_template.copy_to(tmp_path / 'store')}"
    _register(uri, source)
    config = h.config(tmp_path / "project", **{"tracking.uri": uri})
    first = resolve_model("models:/fraud-ensemble/1", config=config).directory
    weights = sorted(first.rglob("*.npz"))
    assert weights
    for damage in ("truncate", "delete"):
        if damage == "truncate":
            weights[0].write_bytes(weights[0].read_bytes()[:100])
        else:
            weights[0].unlink()
        with pytest.raises((ModelLoadError, SerializationError)):  # the copy does not load
            FraudEnsemble.load(first)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="fraud_app.tracking.models"):
            again = resolve_model("models:/fraud-ensemble/1", config=config).directory
        assert again == first
        assert _score(again) == pytest.approx(_score(source))
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(lines) == 1 and "is damaged" in lines[0] and "downloading it again" in lines[0]
