"""Which store a process talks to: the config's, the user's MLFLOW_TRACKING_URI, or the
sqlite file under paths.root, and never the one an earlier connect() happened to use."""

from __future__ import annotations

import os

import pytest

from fraud_app.errors import TrackingError
from fraud_app.tracking.client import connect, tracking_uri
from tests.fraud_app.tracking import helpers as h


def test_connect_leaves_the_environment_as_the_user_set_it(tmp_path, monkeypatch, mlflow_template):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow_template.copy_to(tmp_path / "a")  # new stores, not migrated again
    mlflow_template.copy_to(tmp_path, "c.db")
    first = h.config(tmp_path / "a")
    connect(first)
    # mlflow.set_tracking_uri exports the URI; the next config (another paths.root, in the
    # same notebook) must get its own store, as the README's precedence says
    assert "MLFLOW_TRACKING_URI" not in os.environ
    second = h.config(tmp_path / "b")
    assert tracking_uri(second) == f"sqlite:///{(tmp_path / 'b' / 'mlflow.db').resolve()}"

    exported = f"sqlite:///{tmp_path / 'user.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", exported)
    connect(h.config(tmp_path / "c", **{"tracking.uri": f"sqlite:///{tmp_path / 'c.db'}"}))
    assert os.environ["MLFLOW_TRACKING_URI"] == exported


def test_an_unsupported_uri_scheme_is_a_tracking_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(TrackingError, match=r"tracking store foo://bar: cannot open experiment"):
        connect(h.config(tmp_path, **{"tracking.uri": "foo://bar"}))


def test_a_registry_read_refuses_a_store_that_does_not_exist(tmp_path, monkeypatch):
    """`fraud-app models` / `promote` / a models:/ URI with a wrong paths.root or
    tracking.uri created an empty store there and said the model does not exist, train
    one; they now name the missing store, and create nothing."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = h.config(tmp_path / "typo")
    with pytest.raises(TrackingError, match=r"mlflow\.db does not exist \(no file .*Check paths"):
        connect(config, must_exist=True)
    assert not (tmp_path / "typo" / "mlflow.db").exists()
    connect(config)  # a writer (train) creates it
    connect(config, must_exist=True)


def test_a_file_that_is_not_a_database_is_one_line(tmp_path, monkeypatch):
    """sqlalchemy's message adds the SQL and a link on lines of their own."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "notes.db").write_text("not sqlite " * 100)
    config = h.config(tmp_path, **{"tracking.uri": f"sqlite:///{tmp_path / 'notes.db'}"})
    with pytest.raises(TrackingError, match="file is not a database") as info:
        connect(config)
    assert "\n" not in str(info.value), str(info.value)


@pytest.mark.parametrize("location", ["s3://bucket/fraud-app", "file:///srv/mlartifacts"])
def test_an_artifact_location_given_as_a_uri_is_kept(tmp_path, monkeypatch, location):
    """`tracking.artifact_location` of an embedded store as a URI (MLflow's sqlite store with
    S3 artifacts): it was resolved as a relative path, `<cwd>/s3:/bucket/fraud-app` (review
    35), so the experiment's artifacts went to a local folder named `s3:`."""
    from fraud_app.tracking.client import default_artifact_location

    monkeypatch.chdir(tmp_path)
    cfg = h.config(tmp_path, **{"tracking.artifact_location": location})
    assert default_artifact_location(cfg) == location
    relative = h.config(tmp_path, **{"tracking.artifact_location": "art"})
    assert default_artifact_location(relative) == str(tmp_path / "art")  # a path: resolved


@pytest.mark.parametrize("name", ["run%20s", "q?x#1", "a%b c"])
def test_the_embedded_store_is_the_file_under_a_root_with_url_characters(
    tmp_path, monkeypatch, mlflow_template, name
):
    """SQLAlchemy percent-decodes a sqlite URL's path and cuts it at `?`: a root named
    `run%20s` opened `run s/mlflow.db` (MLflow then retried for ~100 s and failed) and
    `q?x` opened `q`. The default URI quotes `%` and `?`, and the lock's reading decodes it the
    same way, so both name the file under paths.root."""
    from fraud_app.tracking.store_lock import sqlite_database

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / name
    mlflow_template.copy_to(root)
    config = h.config(root)
    uri = tracking_uri(config)
    assert sqlite_database(uri) == (root / "mlflow.db").resolve()
    before = (root / "mlflow.db").stat().st_mtime_ns
    connect(config)  # creates the experiment in that file
    assert (root / "mlflow.db").stat().st_mtime_ns != before
    # nothing else under tmp_path but, where the URI had to be quoted, MLflow's own empty
    # folder of the undecoded path (mlflow.store.db.utils._make_parent_dirs_if_sqlite)
    others = [p for p in tmp_path.iterdir() if p.name != name]
    assert all(p.is_dir() and not any(p.iterdir()) for p in others), others
    if name == "a%b c":  # no escape SQLAlchemy would decode: the path as it is
        assert uri == f"sqlite:///{(root / 'mlflow.db').resolve()}"
        assert others == []
