"""A tracking URI that names a directory (a file store, which MLflow 3 refuses) is named
before Spark starts: it was refused when the training step connected, after Spark and, for
`run`, the data steps (the real CLI in a subprocess, no JVM reachable)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.pipelines.test_cli_errors import REPO
from tests.processes import CLI_DEADLINE_S


@pytest.mark.parametrize("command", ["train", "run"])
@pytest.mark.parametrize("form", ["plain", "file"])
def test_a_directory_tracking_uri_is_refused_before_spark(tmp_path, command, form):
    store = tmp_path / "mlruns"
    store.mkdir()
    uri = str(store) if form == "plain" else store.as_uri()
    (tmp_path / "c.yaml").write_text(f"paths:\n  root: {tmp_path}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING",
           "MLFLOW_TRACKING_URI": uri, "JAVA_HOME": str(tmp_path / "no-java")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "-c", str(tmp_path / "c.yaml"), command],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CLI_DEADLINE_S,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line == (
        f"error: MLFLOW_TRACKING_URI {uri!r} is a directory: MLflow 3 does not take a file "
        "store. Use sqlite:///<path>/mlflow.db (a file, created when missing), a tracking "
        "server (http://host:5000), or set tracking.enabled: false"
    )
    assert not (tmp_path / "canonical").exists() and not (tmp_path / "raw").exists()
