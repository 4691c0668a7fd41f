"""The registry commands against a real MLflow tracking SERVER over HTTP (`mlflow server`,
sqlite backend and artifact store in tmp, nothing local to the client; the `server`
fixture is in conftest.py): `models`,
`promote`, a missing version, and a `models:/...@champion` model fetched through the
server's artifact proxy. MLflow printed "View run ... at: http://..." lines into the
commands' stdout (the JSON a scheduler parses) whenever the store was a server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fraud_app.models.ensemble import FraudEnsemble
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration
QUIET = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"


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
    decision = json.loads(out)  # the JSON only: the line for a person is on stderr
    assert (decision["version"], decision["champion_version"]) == ("2", "1")
    assert main(["-c", str(cfg_file), "promote", "9"]) == 2
    err = capsys.readouterr().err
    assert err.endswith("error: version '9' of model 'fraud-ensemble' does not exist; see "
                        "`fraud-app models` for its versions and aliases\n"), err  # fmt: skip

    # the champion's files come through the server's artifact proxy into the model cache
    directory = resolve_model_dir("models:/fraud-ensemble@champion", config=cfg)
    X = h.rows(50, seed=9)[0]
    np.testing.assert_array_equal(
        FraudEnsemble.load(directory).predict_proba(X), h.linear_ensemble(-2.0).predict_proba(X)
    )
    local_stores = {"mlflow.db", "mlruns", "mlartifacts"} & set(os.listdir(tmp_path))
    assert not local_stores  # nothing was written to a store beside the server


def test_a_password_in_the_server_uri_is_never_shown_or_recorded(server, tmp_path, capfd):
    """`tracking.uri: http://user:password@host` (basic auth in the URI): the runs work, and
    the password appears in no param, no config.json, no printed line (session 23)."""
    import mlflow

    from fraud_app.tracking.runs import start_training_run
    from pipelines.cli import main

    uri = server.replace("http://", "http://alice:SERVERPW@")
    cfg = h.config(tmp_path, **{"tracking.uri": uri})
    with start_training_run(cfg, "secret-uri") as tracker:
        tracker.log_config(cfg)
    client = mlflow.MlflowClient(server)
    params = client.get_run(tracker.run_id).data.params
    config_json = Path(client.download_artifacts(tracker.run_id, "config.json", str(tmp_path)))
    assert params["config.tracking.uri"] == server.replace("http://", "http://***@")
    assert "SERVERPW" not in json.dumps(params) + config_json.read_text()
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"paths:\n  root: {tmp_path}\ntracking:\n  uri: {uri}\n")
    capfd.readouterr()
    main(["-c", str(cfg_file), "--log-level", "DEBUG", "models"])  # listed, or none there yet
    out, err = capfd.readouterr()
    assert "SERVERPW" not in out + err
    assert server.replace("http://", "http://***@") in out + err


def _process_tree(port: int) -> list[tuple[int, str]]:
    """(pid, command line) of the `mlflow server` listening on `port` and its descendants."""
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        procs[int(pid)] = (ppid, cmd)
    roots = [p for p, (_, c) in procs.items() if "mlflow server" in c and f"--port {port} " in c]
    tree, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        tree.append((pid, procs[pid][1]))
        todo += [p for p, (pp, _) in procs.items() if pp == pid]
    return tree


def test_the_test_server_runs_no_job_queue_in_dev_shm(server):
    """The fixture's server starts without MLflow's job runner: before session 32 each one
    left its huey queue directory in /dev/shm (MLflow never removes it) and ran 8 more
    processes beside the server."""
    port = int(server.rsplit(":", 1)[1])
    tree = _process_tree(port)
    assert tree, f"no mlflow server process found for port {port}"
    extra = [cmd for _, cmd in tree if "huey" in cmd or "_job_runner" in cmd]
    assert not extra, extra
    for pid, _ in tree:
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        assert b"_MLFLOW_HUEY_STORAGE_PATH=" not in env
