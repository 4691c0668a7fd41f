"""A tracking server that trickles its answer: `models` / `promote` stop at the total deadline
of a request (fraud_app.tracking.http_deadline) with one line naming the server and the
deadline. Before, each byte restarted the per-read timeout: with connect_timeout_s 1, a
header line every 0.4 s held `models` 87 s, a body byte every 0.4 s for hours (probe46c).
A real socket server on a thread; the CLI's own `main()` in this process."""

from __future__ import annotations

import socket
import threading
import time

import mlflow
import pytest

from pipelines.cli import main
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration

_STEP_S = 0.2  # one byte or header line this often: each read gets something in time
_CAP_S = 12  # then the server closes (so the hang of the base code ends: the test fails)


class TricklingServer:
    """Answers every request with 200 and then, forever (up to _CAP_S): a header line each
    _STEP_S (`headers`), or `Content-Length: 100000` and one body byte each _STEP_S (`body`)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.requests: list[bytes] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                self.requests.append(head.split(b"\r\n", 1)[0])
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                if self.mode == "body":
                    conn.sendall(b"Content-Length: 100000\r\n\r\n{")
                t0 = time.monotonic()
                i = 0
                while not self.stop.is_set() and time.monotonic() - t0 < _CAP_S:
                    time.sleep(_STEP_S)
                    i += 1
                    conn.sendall(b" " if self.mode == "body" else b"X-Slow-%d: 1\r\n" % i)
            except OSError:
                return  # the client shut the connection: what the deadline does

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(_CAP_S + 5)
        self.server.close()


@pytest.fixture(params=["headers", "body"])
def trickling(request):
    server = TricklingServer(request.param)
    yield server
    server.close()


def _cli(capsys, tmp_path, port: int, args: list[str], extra: str = "") -> tuple[int, str, float]:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(
        f"paths: {{root: '{tmp_path}'}}\n"
        f"tracking: {{uri: 'http://ops:s3cret@127.0.0.1:{port}', connect_timeout_s: 1{extra}}}\n"
    )
    capsys.readouterr()
    t0 = time.monotonic()
    code = main(["-c", str(cfg_file), "--log-level", "WARNING", *args])
    elapsed = time.monotonic() - t0
    out, err = capsys.readouterr()
    assert out == ""  # nothing printed as if it had been read
    return code, err, elapsed


def _expected(port: int, seconds: str, source: str) -> str:
    return (
        f"error: tracking server http://***@127.0.0.1:{port} cannot open experiment "
        f"'fraud-app': did not finish answering within {seconds} (the total time of one "
        f"request; {source}): it accepts connections but sends its answer too slowly or "
        "never ends it. Check that an MLflow server listens there (not another service) and "
        "is not stuck or overloaded (its logs), raise tracking.request_deadline_s, or set "
        "tracking.enabled: false\n"
    )


@pytest.mark.parametrize("command", [["models"], ["promote", "2", "--reason", "INC-1"]])
def test_a_trickling_server_stops_the_command_at_the_default_deadline(
    trickling, command, capsys, tmp_path, monkeypatch
):
    """connect_timeout_s 1, MLflow's 1 retry (the CLI's): (1 + 2) x 1 s = 3 s."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, err, elapsed = _cli(capsys, tmp_path, trickling.port, command)
    assert code == 2, err
    source = (
        "tracking.request_deadline_s unset: tracking.connect_timeout_s 1s x "
        "(MLFLOW_HTTP_REQUEST_MAX_RETRIES 1 + 2)"
    )
    assert err == _expected(trickling.port, "3s", source)
    assert 3 <= elapsed < 3 + 4, elapsed  # was 87 s (headers) / hours (body)
    # one request: after the deadline urllib3's retry makes no second one
    assert len(trickling.requests) == 1, trickling.requests
    assert not (tmp_path / "mlflow.db").exists()


def test_the_deadline_setting_is_used(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    server = TricklingServer("body")
    try:
        code, err, elapsed = _cli(
            capsys, tmp_path, server.port, ["models"], ", request_deadline_s: 1.5"
        )
    finally:
        server.close()
    assert code == 2, err
    assert err == _expected(server.port, "1.5s", "tracking.request_deadline_s")
    assert 1.5 <= elapsed < 1.5 + 4, elapsed


def test_models_of_a_sqlite_store_still_lists_its_versions(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"paths: {{root: '{tmp_path}'}}\n")
    capsys.readouterr()
    assert main(["-c", str(cfg_file), "--log-level", "WARNING", "models"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("fraud-ensemble (sqlite:///")
    assert any(line.split()[:2] == ["1", "champion"] for line in out.splitlines()), out
    assert mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_model_version(
        "fraud-ensemble", "1"
    ).aliases == ["champion"]


def test_the_deadline_holds_outside_the_main_thread(tmp_path, monkeypatch):
    """The training's tracking thread runs MLflow calls beside training: a SIGALRM in the
    main thread would not reach it; the watchdog does."""
    from fraud_app.tracking.client import open_store
    from fraud_app.tracking.http_deadline import RequestDeadlineExceeded

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    server = TricklingServer("body")
    found: list[BaseException] = []

    def opening() -> None:
        try:
            open_store(h.config(tmp_path, **{
                "tracking.uri": f"http://127.0.0.1:{server.port}",
                "tracking.connect_timeout_s": 1, "tracking.request_deadline_s": 2,
            }))  # fmt: skip
        except BaseException as exc:  # what the thread met, for the assert
            found.append(exc)

    try:
        t0 = time.monotonic()
        thread = threading.Thread(target=opening, daemon=True)
        thread.start()
        thread.join(2 + 8)
        elapsed = time.monotonic() - t0
    finally:
        server.close()
    assert not thread.is_alive() and 2 <= elapsed < 2 + 4, elapsed
    assert len(found) == 1 and isinstance(found[0], RequestDeadlineExceeded), found
    assert "did not finish answering within 2s (the total time of one request; " in str(found[0])
