"""The promotion gate against a moving champion on a real tracking SERVER (`mlflow server`
over HTTP, no store lock there): a real `fraud-app promote` process moves `champion` while
the gate is between its decision and its alias move. A real HTTP relay in front of the
server starts that process when the gate's registration request passes, so the
interleaving is not left to chance. The gate read the champion before registering, so it
moved the alias over the operator's choice with a decision made against the old champion
(lost update); it now reads the champion again right before the move and decides again."""

from __future__ import annotations

import http.client
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import pytest

from tests import forked
from tests.forked import run_forked
from tests.fraud_app.tracking import helpers as h
from tests.processes import CLI_DEADLINE_S

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class _Relay(BaseHTTPRequestHandler):
    """Forwards every request to the real server; `server.hooks[(method, path suffix)]`
    runs once, before ("before") or after ("after") the matching request is forwarded."""

    protocol_version = "HTTP/1.1"

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = next((k for k in self.server.hooks
                    if k[0] == self.command and self.path.split("?")[0].endswith(k[1])), None)  # fmt: skip
        when, hook = self.server.hooks.pop(key) if key else (None, None)
        if when == "before":
            hook()
        conn = http.client.HTTPConnection("127.0.0.1", self.server.target_port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        conn.request(self.command, self.path, body or None, headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if when == "after":
            hook()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, *args):
        pass


@pytest.fixture
def relay(server):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Relay)
    httpd.target_port = int(server.rsplit(":", 1)[1])
    httpd.hooks = {}
    with h.serving(httpd):
        yield httpd


def _promote_process(cfg_file: Path, version: str, done: list) -> None:
    """A real `fraud-app promote VERSION` process against the server itself (not the
    relay), forked from tests/forked.py's forkserver (its imports made once); `fraud-app`'s
    own entry, as `python -m pipelines` was (review44b)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    env.pop("MLFLOW_TRACKING_URI", None)
    args = ["-c", str(cfg_file), "promote", version, "--reason", "operator"]
    done.append(
        run_forked(forked.fraud_app, args, cwd=cfg_file.parent, env=env, timeout=CLI_DEADLINE_S)
    )


def _aliases(uri: str, name: str) -> dict[str, str]:
    got = mlflow.MlflowClient(uri, uri).get_registered_model(name).aliases
    return {k: str(v) for k, v in got.items()}


def _config(tmp_path, uri: str, name: str, **more):
    # one project trained, gated and promoted from several roots: it names itself
    return h.config(tmp_path, **{"tracking.uri": uri, "registry.model_name": name,
                                 "tracking.project": "race", **more})  # fmt: skip


def _relayed(tmp_path, relay, name):
    """The gate's config through the relay. The relay holds the hooked request while a whole
    `fraud-app promote` process runs (~8 s quiet; minutes on a loaded machine or beside a
    second test worker), so the gate's per-request deadline (tracking.connect_timeout_s,
    10 s by default) is raised: it timed out and the test failed with an empty `done`."""
    uri = f"http://127.0.0.1:{relay.server_address[1]}"
    return _config(tmp_path / "c", uri, name, **{"tracking.connect_timeout_s": 600})


def _setup(server, tmp_path, monkeypatch, name):
    """v1 poor and champion; v2 good but a challenger (registered with a margin no model
    beats): the operator has a reason to promote v2 by hand."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    validation = h.rows(200, seed=3)
    cfg = _config(tmp_path / "a", server, name)
    h.gate_on_rows(cfg, tmp_path / "a", h.linear_ensemble(-2.0), "r1", validation)
    strict = _config(tmp_path / "b", server, name, **{"registry.promotion_margin": 1.0})
    h.gate_on_rows(strict, tmp_path / "b", h.linear_ensemble(2.0), "r2", validation)
    assert _aliases(server, name) == {"champion": "1", "challenger": "2"}
    cfg_file = tmp_path / "server.yaml"
    cfg_file.write_text(f"paths:\n  root: {tmp_path / 'p'}\ntracking:\n  uri: {server}\n"
                        "  project: race\n"
                        f"registry:\n  model_name: {name}\n")  # fmt: skip
    return validation, cfg_file


def test_a_promote_between_the_decision_and_the_move_is_not_overwritten(
    server,
    relay,
    tmp_path,
    monkeypatch,
):
    name = "race-before"
    validation, cfg_file = _setup(server, tmp_path, monkeypatch, name)
    done: list = []
    relay.hooks[("POST", "/model-versions/create")] = (
        "before", lambda: _promote_process(cfg_file, "2", done))  # fmt: skip
    via_relay = _relayed(tmp_path, relay, name)
    # r3 beats v1 (the champion its gate scores) but not v2 (promoted meanwhile)
    out, _ = h.gate_on_rows(via_relay, tmp_path / "c", h.linear_ensemble(0.5), "r3", validation)

    assert done and done[0].returncode == 0, done and done[0].stderr[-2000:]
    assert f"{name} v2 is now the champion (previous: v1)." in done[0].stderr
    assert _aliases(server, name) == {"champion": "2", "challenger": "3"}
    assert (out["decision"], out["champion_version"], out["version"]) == ("challenger", "2", "3")
    tags = mlflow.MlflowClient(server, server).get_model_version(name, "3").tags
    assert (tags["gate.decision"], tags["gate.champion_version"]) == ("challenger", "2")
    assert float(tags["gate.champion_ap"]) > float(tags["gate.new_ap"])


def test_a_move_right_after_the_gate_s_is_read_back_and_recorded(
    server,
    relay,
    tmp_path,
    monkeypatch,
):
    """The window that remains: another process's move just after the gate's own. The gate
    reads the alias back and records who holds it (the later move stands)."""
    name = "race-after"
    validation, cfg_file = _setup(server, tmp_path, monkeypatch, name)
    done: list = []
    relay.hooks[("POST", "/registered-models/alias")] = (
        "after", lambda: _promote_process(cfg_file, "2", done))  # fmt: skip
    via_relay = _relayed(tmp_path, relay, name)
    out, _ = h.gate_on_rows(via_relay, tmp_path / "c", h.linear_ensemble(0.5), "r3", validation)

    assert done and done[0].returncode == 0, done and done[0].stderr[-2000:]
    assert f"{name} v2 is now the champion (previous: v3)." in done[0].stderr
    assert (out["decision"], out["champion_version"], out["superseded_by"]) == (
        "champion",
        "1",
        "2",
    )
    tags = mlflow.MlflowClient(server, server).get_model_version(name, "3").tags
    assert tags["gate.superseded_by"] == "2"
    assert _aliases(server, name)["champion"] == "2"
