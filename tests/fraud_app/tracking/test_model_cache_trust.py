"""A registered model is not scored with when every local user could have written it:
neither its local source (a file store's artifacts, a folder registered by hand), whose
copy in the model cache would then be this user's own, nor a cache entry opened to
everyone (a damaged entry is downloaded again; one another user could have forged is
refused, not written over). A colleague's source in a team's store still loads. Real
MLflow on sqlite, no Spark."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fraud_app.errors import ModelLoadError, UntrustedModelError
from fraud_app.tracking.models import resolve_model
from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking.test_model_cache_stores import _register, _score

pytestmark = pytest.mark.integration
URI = "models:/fraud-ensemble/1"


@pytest.fixture
def registered(tmp_path, monkeypatch, mlflow_template):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    source = tmp_path / "model"
    h.linear_ensemble(2.0).save(source)
    uri = f"sqlite:///{mlflow_template.copy_to(tmp_path / 'store')}"
    _register(uri, source)
    return source, h.config(tmp_path / "project", **{"tracking.uri": uri})


def test_a_source_every_user_could_write_is_refused_before_it_is_copied(registered):
    source, config = registered
    (source / "member-00" / "model.json").chmod(0o666)
    with pytest.raises(UntrustedModelError, match=r"model.json is writable by every user"):
        resolve_model(URI, config=config)  # before: copied into the cache, then scored with
    assert not list((Path(config.paths.root) / "model-cache").glob("fraud-ensemble*"))


def test_a_cache_entry_every_user_could_write_is_refused_not_downloaded_again(registered):
    _, config = registered
    first = resolve_model(URI, config=config).directory
    (first / "ensemble.json").chmod(0o666)
    with pytest.raises(UntrustedModelError, match=r"ensemble.json is writable by every user"):
        resolve_model(URI, config=config)  # before: served as it was


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_colleagues_source_in_the_store_still_loads(registered):
    source, config = registered
    want = _score(source)
    subprocess.run(["chown", "-R", "65534:65534", str(source)], check=True)
    found = resolve_model(URI, config=config)  # the copy in the cache is ours
    assert _score(found.directory) == pytest.approx(want)


def test_a_version_source_that_leaves_the_cache_does_not_name_a_cache_entry(registered):
    """A registry (a hostile server, a damaged store) answering a version's source
    `models:/m-x/../../elsewhere` made the cache entry `<cache>/m-x/../../elsewhere`: a
    model found there, outside the cache, was served (and a download would have emptied
    that folder first). The entry is now one directory name inside the cache."""
    import sqlite3

    _, config = registered
    cache = Path(config.paths.driver_dir()).resolve() / "model-cache"
    planted = cache.parent / "elsewhere"
    h.linear_ensemble(-5.0).save(planted)
    (cache / "m-x").mkdir(parents=True)  # the entry of a logged model downloaded before
    database = config.tracking.uri[len("sqlite:///") :]
    with sqlite3.connect(database) as db:
        db.execute("UPDATE model_versions SET source = 'models:/m-x/../../elsewhere'")
    with pytest.raises(ModelLoadError, match=r"cannot download model models:/fraud-ensemble/1"):
        resolve_model(URI, config=config)  # before: served the planted model
    assert sorted(p.name for p in planted.iterdir())  # nothing outside the cache removed
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == ["m-x"]


def test_cache_entry_names_are_one_directory_name():
    from fraud_app.tracking.models import cache_entry_name

    assert cache_entry_name("m-0123abcd") == "m-0123abcd"
    assert cache_entry_name("fraud-ensemble-v3-00ff") == "fraud-ensemble-v3-00ff"
    for key in ("m-x/../../e", "..", ".", "m-..", "a\\b", "a b", "\u00e9t\u00e9", "x" * 200, ""):
        name = cache_entry_name(key)
        assert "/" not in name and name not in (".", "..") and len(name) <= 128
        assert name != key
    assert cache_entry_name("a b") != cache_entry_name("a  b")
