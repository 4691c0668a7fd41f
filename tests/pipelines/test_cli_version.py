"""`fraud-app --version` names the installed version (what a node or a packed archive has),
before any config is read or Spark starts."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from tests.processes import CLI_DEADLINE_S

REPO = Path(__file__).resolve().parents[2]


def test_version_is_printed_without_a_config_or_spark(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAVA_HOME": str(tmp_path / "no-java")}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "-c", str(tmp_path / "missing.yaml"), "--version"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=CLI_DEADLINE_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"fraud-app {version('fraud-app')}\n"


def test_init_prints_a_next_command_that_a_shell_can_run(tmp_path, capsys):
    # the hint was printed unquoted: `fraud-app -c /x/we ird: #dir/config.yaml run` split
    # at the spaces and lost everything after the '#'
    import shlex

    from pipelines.cli import main

    target = tmp_path / "we ird: #dir"
    assert main(["init", str(target)]) == 0
    hint = capsys.readouterr().out.splitlines()[-1]
    assert hint.startswith("next: ")
    assert shlex.split(hint[len("next: ") :]) == [
        "fraud-app", "-c", str(target / "config.yaml"), "run", "--generate",
    ]  # fmt: skip
