"""SIGTERM (Airflow's task timeout or kill, `kill PID`, a pod's shutdown) stops a command
cleanly: exit 143 with one `error:` line, its lock released, its staged output discarded,
nothing published. Python's default ended the process at once (killed by signal 15): the
lock file and the staging directories stayed behind until the next run took them over.
A real `fraud-app etl` on local Spark, terminated while it holds the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import CLI_DEADLINE_S

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.spark


def _raw(root: Path, rows: int = 20_000) -> None:
    raw = root / "raw"
    raw.mkdir(parents=True)
    lines = ["transaction_id,card_id,timestamp,amount,label"]
    lines += [f"t{i},c{i % 97},2024-01-{1 + i % 28:02d}T10:00:00Z,{i % 500}.5,{int(i % 50 == 0)}"
              for i in range(rows)]  # fmt: skip
    (raw / "tx.csv").write_text("\n".join(lines) + "\n")


def etl_holding_its_lock(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A real `fraud-app etl` (local[1], its own session) on raw rows under tmp_path, once
    it holds its lock: (the process, the lock file). Its JVM's JIT C1 only (the app's
    ParallelGC kept, which a config's Java options replace): a JVM stopped before it runs
    anything warm pays C2's compiling for nothing, 30-32 -> 21-22 CPU s for the file
    (session 50, docs/PROBES.md); the tier cannot change a result (JEP 306)."""
    _raw(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"paths:\n  root: {tmp_path}\nspark:\n  master: local[1]\n  conf:\n"
        "    spark.driver.extraJavaOptions: -XX:+UseParallelGC -XX:TieredStopAtLevel=1\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "-c", str(cfg), "etl"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    lock = tmp_path / ".fraud-app.lock"
    deadline = time.monotonic() + CLI_DEADLINE_S
    while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition under a deadline, not synchronising on time
    assert lock.exists(), "etl never took its lock"
    return proc, lock


@pytest.mark.parametrize("group", [False, True], ids=["process", "process-group"])
def test_sigterm_releases_the_lock_and_publishes_nothing(tmp_path, group):
    """group: the signal goes to the whole process group, as Airflow and a shell's job
    control send it: Spark's JVM gets it too and may die first."""
    proc, lock = etl_holding_its_lock(tmp_path)
    if group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=CLI_DEADLINE_S)
    assert proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: fraud-app etl was terminated (SIGTERM) before it finished: nothing is left "
        "half-written (outputs are staged, then swapped in) and its locks are released; run it "
        "again (an interrupted `train --run NAME` resumes from its last checkpoint)"
    ], err[-3000:]
    assert out == ""
    assert not lock.exists()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["c.yaml", "raw"], left  # no canonical table, quarantine or staging
