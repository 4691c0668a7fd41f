"""The registry commands against a real MLflow tracking SERVER over HTTP (`mlflow server`,
sqlite backend and artifact store in tmp, nothing local to the client): `models`,
`promote`, a missing version, and a `models:/...@champion` model fetched through the
server's artifact proxy. MLflow printed "View run ... at: http://..." lines into the
commands' stdout (the JSON a scheduler parses) whenever the store was a server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from fraud_app.models.ensemble import FraudEnsemble
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration
QUIET = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:  # poll the server's health under a deadline
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not answer in 180 s"
            time.sleep(0.2)
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_registry_commands_over_http(server, tmp_path, monkeypatch, capsys):
    from fraud_app.tracking.models import resolve_model_dir
    from pipelines.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(QUIET, "x")
    monkeypatch.delenv(QUIET)  # as a scheduler's environment has it; restored afterwards
    cfg = h.config(tmp_path, **{"tracking.uri": server})
    validation = h.rows(200, seed=3)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r1", validation)  # v1 champion
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "r2", validation)  # v2 challenger
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"paths:\n  root: {tmp_path}\ntracking:\n  uri: {server}\n")
    capsys.readouterr()

    assert main(["-c", str(cfg_file), "models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["aliases"]) for r in rows] == [("2", ["challenger"]),
                                                             ("1", ["champion"])]  # fmt: skip
    assert main(["-c", str(cfg_file), "promote", "2", "--reason", "review"]) == 0
    out = capsys.readouterr().out
    assert "View run" not in out and "View experiment" not in out, out
    decision = json.loads(out.split("\nfraud-app: ")[0])
    assert (decision["version"], decision["champion_version"]) == ("2", "1")
    assert main(["-c", str(cfg_file), "promote", "9"]) == 2
    err = capsys.readouterr().err
    assert err.endswith("error: version '9' of model 'fraud-ensemble' does not exist; see "
                        "`fraud-app models`\n"), err  # fmt: skip

    # the champion's files come through the server's artifact proxy into the model cache
    directory = resolve_model_dir("models:/fraud-ensemble@champion", config=cfg)
    X = h.rows(50, seed=9)[0]
    np.testing.assert_array_equal(
        FraudEnsemble.load(directory).predict_proba(X), h.linear_ensemble(-2.0).predict_proba(X)
    )
    local_stores = {"mlflow.db", "mlruns", "mlartifacts"} & set(os.listdir(tmp_path))
    assert not local_stores  # nothing was written to a store beside the server
