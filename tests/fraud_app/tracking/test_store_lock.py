"""Processes sharing one embedded sqlite store (real processes, real MLflow): opening a NEW
store at once ran MLflow's migrations in each and left the store broken for good ('table
... already exists'); the store lock lets one process create it and the others wait."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.errors import TrackingError
from fraud_app.tracking.store_lock import lock_path, store_lock

REPO = Path(__file__).resolve().parents[3]
# Everything slow (imports) happens before the 'go' line, so the processes open the store
# at the same moment: the race is not left to chance.
OPEN = """
import sys
from fraud_app.config import load_config
from fraud_app.tracking.client import connect
import mlflow, sqlalchemy
cfg = load_config(None, {"paths.root": sys.argv[1]})
print("ready", flush=True)
sys.stdin.readline()
print("experiment", connect(cfg).experiment_id, flush=True)
"""


def _spawn(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_processes_opening_a_new_store_at_once_all_get_it(tmp_path, monkeypatch):
    procs = [_spawn(OPEN, str(tmp_path)) for _ in range(2)]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 2
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill() if p.poll() is None else None
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert out.strip() == "experiment 1", (out, err[-2000:])
    # and the store stays usable (the broken one refused every later process): opened here,
    # where the test session has imported MLflow already, not by a third interpreter
    from fraud_app.config import load_config
    from fraud_app.tracking.client import connect

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert connect(load_config(None, {"paths.root": str(tmp_path)})).experiment_id == "1"


@pytest.mark.parametrize(
    ("uri", "db"),
    [
        ("sqlite:///rel/mlflow.db", "rel/mlflow.db"),
        ("sqlite:////abs/mlflow.db", "/abs/mlflow.db"),
        ("sqlite:////abs/mlflow.db?timeout=5", "/abs/mlflow.db"),  # was mlflow.db?timeout=5
        ("sqlite+pysqlite:////abs/mlflow.db", "/abs/mlflow.db"),  # was not locked
    ],
)
def test_the_lock_sits_beside_the_database_sqlalchemy_opens(uri, db):
    assert lock_path(uri) == Path(db + ".lock")


@pytest.mark.parametrize(
    "uri",
    ["sqlite://", "sqlite:///:memory:", "sqlite:/x.db", "http://h:5000", "hdfs:/x", "file:/x"],
)
def test_no_lock_for_stores_without_a_database_file(uri):
    assert lock_path(uri) is None


HOLD = """
import sys
from fraud_app.tracking.store_lock import store_lock
with store_lock(sys.argv[1], 5, "test"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_held_lock_is_waited_for_within_a_deadline_then_named(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert lock_path(uri) == tmp_path / "mlflow.db.lock"
    assert lock_path("http://127.0.0.1:5000") is None and lock_path("sqlite:///:memory:") is None
    holder = _spawn(HOLD, uri)
    try:
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(
                TrackingError,
                match=r"waited 0\.2s for the tracking store lock "
                rf"{tmp_path}/mlflow\.db\.lock \(registering\): another fraud-app "
                "process on this machine holds it",
            ),  # fmt: skip
            store_lock(uri, 0.2, "registering"),
        ):
            pass
    finally:
        holder.communicate("\n", timeout=60)
    with store_lock(uri, 0.2, "registering"):  # released by its holder's exit
        pass
