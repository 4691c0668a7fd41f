"""`server`: a real MLflow tracking server (`mlflow server`, sqlite backend and artifact
store in tmp) on 127.0.0.1, one per test module, for the tests that need HTTP. Its backend
starts as a copy of the migrated empty store (tests/mlflow_store.py): the server does not
migrate a new database on every start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

# MLflow's job execution (on by default) starts a job runner and 7 huey consumers beside
# the server and keeps their queue in a `tempfile.mkdtemp(dir="/dev/shm")` that nothing
# removes: each server these tests started left a 544 KB directory in /dev/shm (18 on the
# shared machine by session 32) and 8 more processes while it ran. The tests use none of it.
SERVER_ENV = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, mlflow_template):
    root = tmp_path_factory.mktemp("mlflow-server")
    mlflow_template.copy_to(root, "server.db")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root, env=SERVER_ENV,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    # A loaded machine (load 37 on 2 vCPUs, session 21) took over 180 s; a server that exits
    # fails at once (proc.poll() below), so only a hung start waits the whole 600 s.
    deadline = time.monotonic() + 600
    try:
        while True:  # poll the server's health under a deadline
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not answer in 600 s"
            time.sleep(0.2)
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=60)
