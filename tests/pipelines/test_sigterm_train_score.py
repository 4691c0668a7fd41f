"""SIGTERM end to end: a real `fraud-app train` terminated while its members train, and a
real `fraud-app score` terminated while it writes its new partitions. Each exits 143 with
the one `error:` line, leaves no half-written model or partition where readers look, the
earlier model / partitions as they were, no process of its own behind (the Spark JVM,
its Python workers and the barrier tasks: everything of the command's session), and a
re-run then succeeds (train --run resumes from its checkpoints). Tiny generated data,
prepared once in this process; the commands are subprocesses in their own session."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fraud_app.config import load_config

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.yaml"
pytestmark = [pytest.mark.spark, pytest.mark.slow]
TERMINATED = (
    "error: fraud-app {} was terminated (SIGTERM) before it finished: nothing is left "
    "half-written (outputs are staged, then swapped in) and its locks are released; run it "
    "again (an interrupted `train --run NAME` resumes from its last checkpoint)"
)
EPOCHS = 300
SMALL = {
    "spark.master": "local[2]",
    "generate.n_transactions": 4_000,
    "generate.n_cards": 600,
    "generate.n_merchants": 200,
    "generate.days": 30,
    "generate.fraud_rate": 0.02,
    "generate.partitions": 1,
    "generate.dirty_fraction": 0.0,
    "balancing.unionpay_subsets.n_subsets": 2,
    "training.model.hidden": [8],
    "training.model.encoding": "none",
    "training.distributed.global_batch_size": 64,
    "training.distributed.early_stopping": None,
    "training.refit.enabled": False,
    "baselines.enabled": False,
    "tracking.enabled": False,
    "scoring.reference_rows": 1_000,
}


@pytest.fixture(scope="module")
def prepared(spark, tmp_path_factory):
    """paths.root with generated raw data, canonical and feature tables, and two config
    files: short.yaml (2 epochs) and long.yaml (EPOCHS)."""
    from fraud_app.data.generator import generate_raw, write_raw
    from fraud_app.etl.pipeline import run_etl
    from fraud_app.features.pipeline import build_feature_table
    from pipelines.workflow.pipeline import reading_generated

    root = tmp_path_factory.mktemp("sigterm")
    config = load_config(DEMO, {"paths.root": str(root), **SMALL})
    write_raw(generate_raw(spark, config.generate), str(root / "raw"), config.generate.format)
    config = reading_generated(config)
    run_etl(spark, config)
    build_feature_table(spark, config)
    data = config.model_dump(mode="json")
    for name, epochs in (("short", 2), ("long", EPOCHS)):
        data["training"]["distributed"]["epochs"] = epochs
        (root / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def _start(root: Path, cfg: str, *args: str, log: str = "WARNING") -> subprocess.Popen:
    """`fraud-app -c <root>/<cfg>.yaml ARGS` in a session of its own (cfg: short | long)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "FRAUD_APP_LOG_LEVEL": log}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines", "-c", str(root / f"{cfg}.yaml"), *args],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def _wait_for(proc: subprocess.Popen, found, what: str, timeout: float = 300):
    """Poll for a condition under a deadline (not synchronising on time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = found()
        if got:
            return got
        if proc.poll() is not None:
            _out, err = proc.communicate()
            pytest.fail(f"the command ended (rc {proc.returncode}) before {what}:\n{err[-3000:]}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"{what} did not happen within {timeout:g}s")


def _session_processes(sid: int) -> list[str]:
    """Command lines of live processes in session `sid` (the command's own: it started one)."""
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) != sid or fields[0] == "Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        left.append(f"{entry.name}: {cmd}")
    return left


def _no_processes_left(sid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (left := _session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes of the terminated command still alive: {left}"


def _digest(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _terminate(proc: subprocess.Popen, command: str) -> None:
    """SIGTERM to the command's process group, as a scheduler or a shell's job control
    sends it: Spark's JVM gets it too and may be gone before the driver's cleanup calls
    it. That cleanup's errors (ConnectionRefusedError) made the exit 2 with `error:
    Connection refused`. The JVM's and pyspark's own servers print stack traces of their
    own then; the contract is the exit code and the one `error:` line."""
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = _finish(proc)
    assert proc.returncode == 143, err[-4000:]
    assert [x for x in err.splitlines() if x.startswith("error:")] == [
        TERMINATED.format(command)
    ], err[-4000:]
    assert out == ""
    _no_processes_left(proc.pid)


def test_train_terminated_while_members_train(prepared):
    root = prepared
    first = _start(root, "short", "train", "--run", "r1")
    out, err = _finish(first)
    assert first.returncode == 0, err[-4000:]
    before = _digest(root / "models" / "r1")

    proc = _start(root, "long", "train", "--run", "r2")
    checkpoints = root / "checkpoints" / "r2"
    _wait_for(proc, lambda: list(checkpoints.rglob("LATEST.json")), "a first checkpoint")
    _terminate(proc, "train")

    assert _digest(root / "models" / "r1") == before  # the earlier model as it was
    assert sorted(p.name for p in (root / "models").iterdir()) == ["r1"]  # no r2, no staging
    assert not (root / "reports" / "training-r2.json").exists()
    assert not (root / "test-scores" / "r2").exists()
    assert list(checkpoints.rglob("LATEST.json"))  # kept: the re-run resumes from them

    again = _start(root, "long", "train", "--run", "r2", log="INFO")
    out, err = _finish(again)
    assert again.returncode == 0, err[-4000:]
    assert "resum" in err.lower(), err[-4000:]
    assert json.loads(out)["model"] == str(root / "models" / "r2")
    assert not checkpoints.exists()  # finished: they can resume nothing (keep_checkpoints)
    _no_processes_left(again.pid)


def test_score_terminated_while_it_writes_its_partitions(prepared):
    root = prepared
    model = root / "models" / "r1"
    if not model.is_dir():  # the test above trains it; alone, train a short one
        first = _start(root, "short", "train", "--run", "r1")
        assert first.wait(timeout=600) == 0
    report = json.loads((root / "reports" / "training-r1.json").read_text())
    start = dt.date.fromisoformat(report["splits"]["windows"]["test"]["start"][:10])
    days = ["--start", str(start), "--end", str(start + dt.timedelta(days=3))]
    scores = root / "scores"
    first = _start(root, "short", "score", *days, "--model", str(model), "--job-id", "j1")
    _out, err = _finish(first)
    assert first.returncode == 0, err[-4000:]
    before = _digest(scores)
    assert len([p for p in scores.iterdir() if p.name.startswith("event_date=")]) == 4

    proc = _start(root, "short", "score", *days, "--model", str(model), "--job-id", "j2")
    staged = scores / "_staging" / "j2" / "new"
    _wait_for(proc, staged.is_dir, "the new partitions being written")
    _terminate(proc, "score")

    assert _digest(scores) == before  # every earlier partition as it was, no staging left
    assert not (root / "reports" / "scoring-j2.json").exists()

    again = _start(root, "short", "score", *days, "--model", str(model), "--job-id", "j3")
    _out, err = _finish(again)
    assert again.returncode == 0, err[-4000:]
    assert sorted(p.name for p in scores.iterdir() if p.name.startswith("event_date=")) == sorted(
        p for p in {k.split("/")[0] for k in before} if p.startswith("event_date=")
    )
    _no_processes_left(again.pid)
