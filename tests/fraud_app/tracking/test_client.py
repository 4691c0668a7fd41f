"""Which store a process talks to: the config's, the user's MLFLOW_TRACKING_URI, or the
sqlite file under paths.root, and never the one an earlier connect() happened to use."""

from __future__ import annotations

import os

import pytest

from fraud_app.errors import TrackingError
from fraud_app.tracking.client import connect, tracking_uri
from tests.fraud_app.tracking import helpers as h


def test_connect_leaves_the_environment_as_the_user_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
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
