"""A tracking URI that cannot be reached: a clear error within the deadline, never a hang."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from fraud_app.errors import TrackingError
from fraud_app.tracking.models import resolve_model_dir
from fraud_app.tracking.runs import NullTracker, start_training_run
from tests.fraud_app.tracking import helpers as h


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends


def test_closed_port_fails_fast_with_a_clear_error(tmp_path):
    import mlflow  # noqa: F401  (importing takes seconds on a busy machine; not a network wait)

    port = _closed_port()
    cfg = h.config(tmp_path, **{"tracking.uri": f"http://ops:s3cret@127.0.0.1:{port}",
                                "tracking.connect_timeout_s": 2})  # fmt: skip
    t0 = time.monotonic()
    with pytest.raises(
        TrackingError,
        match=rf"^tracking server http://\*\*\*@127\.0\.0\.1:{port} cannot be "
        r"reached within 2s.*tracking.enabled: false",
    ) as info:
        start_training_run(cfg, "r")
    assert "s3cret" not in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(TrackingError, match="cannot be reached"):
        resolve_model_dir("models:/fraud-ensemble@champion", config=cfg)
    assert time.monotonic() - t0 < 10


def test_silent_server_times_out_instead_of_hanging(tmp_path):
    """A server that accepts connections but never answers (a hung tracking server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        cfg = h.config(tmp_path, **{"tracking.uri": f"http://ops:s3cret@127.0.0.1:{port}/x",
                                    "tracking.connect_timeout_s": 1})  # fmt: skip
        import mlflow  # noqa: F401

        t0 = time.monotonic()
        with pytest.raises(TrackingError) as info:
            start_training_run(cfg, "r")
        assert time.monotonic() - t0 < 30
        # one line: the URI without its password, the deadline and what to check (it
        # was MLflow's 400-character 'Max retries exceeded ... Read timed out', password
        # and all)
        assert str(info.value) == (
            f"tracking server http://***@127.0.0.1:{port}/x cannot open experiment "
            "'fraud-app': it accepts connections but did not answer within 1s "
            "(tracking.connect_timeout_s, per request). Check that an MLflow server listens "
            "there (not another service) and is not stuck or overloaded (its logs), raise "
            "tracking.connect_timeout_s, or set tracking.enabled: false"
        )
    finally:
        stop.set()
        thread.join(5)
        for c in held:
            c.close()
        server.close()


def test_tracking_disabled_is_a_null_tracker(tmp_path):
    cfg = h.config(tmp_path, **{"tracking.enabled": False, "tracking.uri": "http://127.0.0.1:9"})
    with start_training_run(cfg, "r") as tracker:
        assert isinstance(tracker, NullTracker) and not tracker.enabled
        tracker.log_config(cfg)  # no-op, no connection attempted
    assert not (tmp_path / "mlflow.db").exists()
