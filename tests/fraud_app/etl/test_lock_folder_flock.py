"""A stale lock under a cron wrapper that flocks paths.root itself (helper lock43, session
43): `flock <paths.root> fraud-app prune`, as a crontab serialises jobs (README suggests
`flock` on the scheduling host).

Before: the run met the stale lock, took the flock of its folder to remove it (every
remover takes it, review41a) and waited for ever: the wrapper holds that flock for the
whole command, and the command inherits it. Now the wait has a deadline (REMOVE_WAIT_S)
and the command ends with a message naming the folder and the way out, the lock left."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.etl.lock import owner_info, process_start
from tests.processes import CLI_DEADLINE_S

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(
    shutil.which("flock") is None or process_start(os.getpid()) is None,
    reason="util-linux flock(1) and /proc start times",
)
def test_a_wrapper_holding_a_flock_on_the_root_does_not_hang_the_run(tmp_path):
    root = tmp_path / "work"
    root.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = root / ".fraud-app-prune.lock"
    lock.write_text(json.dumps({**owner_info(), "pid": dead.pid, "command": "prune"}))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"paths: {{root: '{root}'}}\ntracking: {{enabled: false}}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.Popen(
        ["flock", str(root), sys.executable, "-m", "pipelines", "-c", str(cfg), "prune"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _, err = run.communicate(timeout=CLI_DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        pytest.fail(f"`flock {root} fraud-app prune` still waited after {CLI_DEADLINE_S:g} s")
    assert run.returncode == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: could not remove the stale lock {lock}: another process has held a flock on "
        f"its folder {root} for 10 s (fraud-app holds it only while it removes a stale lock, "
        f"for milliseconds): a wrapper such as `flock {root} fraud-app ...`? Nothing was "
        f"removed. Let such a wrapper lock a file instead (`flock {root}/.cron.lock ...`), or "
        "end that process, and run this command again."
    ], err
    assert json.loads(lock.read_text())["pid"] == dead.pid
