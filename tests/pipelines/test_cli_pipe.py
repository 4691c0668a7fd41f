"""`fraud-app ... | head`: a reader that leaves early ends the command quietly (exit 141, as
a shell reports SIGPIPE), not with a BrokenPipeError traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pipelines.test_cli_errors import _model_dir
from tests.processes import CLI_DEADLINE_S

REPO = Path(__file__).resolve().parents[2]


def test_a_closed_stdout_is_no_traceback(tmp_path):
    path = _model_dir(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "inspect", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    proc.stdout.close()  # the reader is gone before the summary is printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=CLI_DEADLINE_S) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
