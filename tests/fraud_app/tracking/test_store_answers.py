"""A tracking store that answers with an error is not a missing model: the gate must not
read a refused or failed lookup of the champion as "no champion" (and promote anything)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fraud_app.errors import ModelLoadError, TrackingError
from fraud_app.tracking.models import resolve_model_dir
from fraud_app.tracking.registry import current_champion, list_versions
from tests.fraud_app.tracking import helpers as h


class _Answer(BaseHTTPRequestHandler):
    def _reply(self):
        data = json.dumps(self.server.answer[1]).encode()
        self.send_response(self.server.answer[0])
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    """A real HTTP tracking 'server' on 127.0.0.1 whose answer the test sets."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    with h.serving(httpd):
        yield httpd


def _client(httpd):
    from mlflow import MlflowClient

    uri = f"http://127.0.0.1:{httpd.server_address[1]}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_a_refused_champion_lookup_is_an_error_not_no_champion(server):
    server.answer = (403, {"error_code": "PERMISSION_DENIED", "message": "token expired"})
    with pytest.raises(
        TrackingError, match=r"could not answer.*champion.*PERMISSION_DENIED.*token expired"
    ):
        current_champion(_client(server), "fraud-ensemble")


def test_a_missing_alias_is_no_champion(server):
    server.answer = (404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no alias"})
    assert current_champion(_client(server), "fraud-ensemble") is None


def test_listing_and_resolving_tell_a_failing_store_from_a_missing_model(server, monkeypatch):
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{server.server_address[1]}")
    # the client reads the variable unless an earlier test set the process's URI (restored)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    server.answer = (403, {"error_code": "PERMISSION_DENIED", "message": "token expired"})
    with pytest.raises(TrackingError, match="could not answer while looking up model"):
        list_versions(_client(server), "fraud-ensemble")
    with pytest.raises(TrackingError, match="could not answer while resolving models:/"):
        resolve_model_dir("models:/fraud-ensemble@champion")
    server.answer = (404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"})
    with pytest.raises(ModelLoadError, match="does not exist"):
        list_versions(_client(server), "fraud-ensemble")
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_model_dir("models:/fraud-ensemble/3")
