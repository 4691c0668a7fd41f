"""A paths.root the CLI creates is private (0700): card ids and scores go under it.

Spark writes its tables 0644 in 0755 directories under a umask of 022, so a root made
0755 let every local user read the score partitions, the feature table and mlflow.db.
The real CLI in a subprocess under umask 022, with no JVM reachable (the root is made
before Spark starts; the command then fails on Java, which is not what is tested).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.pipelines.test_cli_errors import REPO
from tests.processes import CLI_DEADLINE_S


def _cli(tmp_path, root) -> subprocess.CompletedProcess:
    (tmp_path / "c.yaml").write_text(f"paths:\n  root: {root}\ntracking:\n  enabled: false\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING",
           "JAVA_HOME": str(tmp_path / "no-java")}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "-c", str(tmp_path / "c.yaml"), "etl"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CLI_DEADLINE_S,
        preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_root_is_created_private_its_parents_as_usual(tmp_path):
    root = tmp_path / "data" / "fraud"
    result = _cli(tmp_path, root)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert _mode(root) == 0o700  # before: 0o755, readable by every local user
    assert _mode(tmp_path / "data") == 0o755  # like mkdir -p


def test_an_existing_root_keeps_its_mode(tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o750)  # a team's group may read: a choice
    _cli(tmp_path, root)
    assert _mode(root) == 0o750


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="plays a second local user: needs root and setpriv",
)
def test_another_local_user_cannot_read_what_goes_under_a_new_root(tmp_path):
    parent = Path(tempfile.mkdtemp(prefix="root-private-"))  # not under the 0700 tmp_path
    parent.chmod(0o755)
    root = parent / "fraud"
    try:
        _check_unreadable_by_others(tmp_path, root)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _check_unreadable_by_others(tmp_path, root) -> None:
    _cli(tmp_path, root)
    scores = root / "scores" / "event_date=2024-01-30"
    scores.mkdir(parents=True)  # as Spark makes them: 0755 dirs, 0644 files
    (scores / "part-0.parquet").write_text("card_id,score\n4111111111111111,0.97\n")
    read = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "cat", str(scores / "part-0.parquet")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert read.returncode != 0 and "Permission denied" in read.stderr, read.stdout
