"""`fraud-app --version` names the installed version (what a node or a packed archive has),
before any config is read or Spark starts."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_version_is_printed_without_a_config_or_spark(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAVA_HOME": str(tmp_path / "no-java")}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "-c", str(tmp_path / "missing.yaml"), "--version"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"fraud-app {version('fraud-app')}\n"
