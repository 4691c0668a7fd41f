"""`fraud-app run`'s warm-up thread: the GX import and the tracking store, opened early.

The steps call the same functions; they must wait for the thread rather than run beside
it (two threads creating one sqlite store), and a failure on the thread must surface in
the step, with its own message, exactly as without a warm-up.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from fraud_app.errors import TrackingError
from fraud_app.tracking.client import connect, open_store
from pipelines.workflow.pipeline import start_warm_up
from tests.fraud_app.tracking import helpers as h


@pytest.fixture(autouse=True)
def _default_store(monkeypatch):
    """The embedded sqlite store under paths.root (an earlier test may have exported a URI)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_connect_waits_for_the_warm_up_and_finds_its_store(tmp_path):
    import mlflow

    cfg = h.config(tmp_path)
    thread = start_warm_up(cfg)
    store = connect(cfg)  # while the thread may still be creating the store's tables
    thread.join(300)
    assert not thread.is_alive()
    assert connect(cfg) == store
    names = [e.name for e in mlflow.MlflowClient(store.uri).search_experiments()]
    assert names.count(cfg.tracking.experiment) == 1
    assert (tmp_path / "mlflow.db").is_file()


def test_two_threads_opening_a_new_store_get_one_experiment(tmp_path):
    cfg = h.config(tmp_path)
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(open_store(cfg))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert len(got) == 3 and len({s.experiment_id for s in got}) == 1


def test_a_failed_warm_up_fails_again_in_the_step_with_its_message(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    cfg = h.config(tmp_path, **{"tracking.uri": f"http://127.0.0.1:{port}",
                                "tracking.connect_timeout_s": 2})  # fmt: skip
    thread = start_warm_up(cfg)
    thread.join(300)
    assert not thread.is_alive()  # the thread logged the failure and ended
    with pytest.raises(TrackingError, match="cannot be reached within 2s"):
        connect(cfg)


def test_warm_up_without_tracking_imports_great_expectations_only(tmp_path):
    """In a fresh interpreter: after the thread, GX is imported and no store was created."""
    code = (
        "import sys\n"
        "from fraud_app.config import load_config\n"
        "from pipelines.workflow.pipeline import start_warm_up\n"
        "assert 'great_expectations' not in sys.modules\n"
        f"cfg = load_config(None, {{'paths.root': {str(tmp_path)!r}, "
        "'tracking.enabled': False})\n"
        "start_warm_up(cfg).join(300)\n"
        "print('great_expectations' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
    assert not (tmp_path / "mlflow.db").exists()
