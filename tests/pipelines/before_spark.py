"""Run one `fraud-app` command in a child process and check that it stopped with exit code 2
and ONE `error:` line before any SparkContext existed (a mistake found only after the JVM
had started cost a minute on a loaded host). A child process: the test process has one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.processes import CLI_DEADLINE_S

REPO = Path(__file__).resolve().parents[2]


def one_error_before_spark(config: Path, command: str, message: str, *, prelude: str = "",
                           timeout: float = CLI_DEADLINE_S) -> None:  # fmt: skip
    """`prelude`: Python run in the child first (e.g. to make a package unimportable)."""
    probe = (
        f"import sys; {prelude}from pipelines.cli import main; rc = main(sys.argv[1:]); "
        "from pyspark import SparkContext; print(rc, SparkContext._active_spark_context is None)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # `command`: the command and its flags, split at blanks ("run --generate")
    done = subprocess.run([sys.executable, "-c", probe, "-c", str(config), *command.split()], env=env,
                          cwd=config.parent, capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert done.stdout.split() == ["2", "True"], done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
