"""Child processes killed with a real SIGKILL at a named MLflow call (the kill -9 tests:
test_killed_runs, test_promote_killed, test_run_ownership).

Each child was `python -c CODE`: a new interpreter that imported MLflow, the app and its
helpers (~3 s of CPU, 7-10 s of wall time at load 8-10 on the 2-core machine) before the
few requests it made until the kill, and measured dlcore's backends (~1.5 s of CPU) for a
two-weight model. Now each is forked by a multiprocessing forkserver that imported those
modules once (PRELOAD) and never opened a store or started a thread: still a process of
its own (its own pid and start time, what the owner tags record and the retry checks),
killed for real, reaped before `kill` returns, so its pid is gone as a killed process's.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

# what the children import: the forkserver imports them once, each child inherits them
PRELOAD = [
    "mlflow",
    "fraud_app.tracking.registry",
    "fraud_app.tracking.jobs",
    "fraud_app.tracking.tune",
    "fraud_app.tracking.backtest",
    "pipelines.training.gate",
    "pipelines.training.lifecycle",
    "tests.fraud_app.tracking.helpers",
    "tests.fraud_app.tracking.killed_children",
]
_CONTEXT = multiprocessing.get_context("forkserver")


def _killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the process dies here, as under kill -9


def _start(log: Path, env: dict[str, str], kill_at: str | None) -> None:
    """In the child: stderr to `log`, the test's environment of the moment without
    MLFLOW_TRACKING_URI (the config's store), and `mlflow.MlflowClient.<kill_at>` the kill.
    The forkserver keeps the environment of its own start, an earlier test's: its
    MLFLOW_REGISTRY_URI (set by fraud_app.tracking.client) named that test's store."""
    import mlflow

    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.clear()
    os.environ.update({k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"})
    # the child's model of two weights: dlcore's backend measurement (~1.5 s of CPU) is
    # not what these tests test; either backend gives the same decision
    os.environ["DLCORE_BACKEND"] = "numpy"
    if kill_at is not None:
        setattr(mlflow.MlflowClient, kill_at, _killed)


def train_or_score(root: Path, what: str, kill_at: str) -> None:
    """`train --run w1` (the gate of test_killed_runs' ensemble) or `score` of job day20."""
    from tests.fraud_app.tracking import helpers as h

    cfg = h.config(root)
    if what == "train":
        h.gate_on_rows(cfg, root / "killed", h.linear_ensemble(2.0), "w1", h.rows(400, seed=3))
    else:
        from fraud_app.tracking.jobs import log_scoring_job

        log_scoring_job({"job_id": "day20", "dates": []}, root / "summary.json", cfg)


def promote(db: Path, name: str, version: str, experiment: str) -> None:
    import mlflow

    from fraud_app.tracking.registry import promote

    promote(mlflow.MlflowClient(f"sqlite:///{db}"), name, version, experiment_id=experiment)


def _fold(i):
    return {"fold": i, "leakage_check": {"ok": True}, "windows": {"train": "a"},
            "models": {"m": {"ap": 0.5}}}  # fmt: skip


def tune_or_backtest(root: Path, what: str) -> None:
    """A search killed inside its second trial (fold), the first one done."""
    import mlflow

    from tests.fraud_app.tracking import helpers as h

    cfg = h.config(root)
    if what == "tune":
        from fraud_app.tracking.tune import tune_tracker

        t = tune_tracker(cfg)
        with t.parent("tune-s1", {"method": "grid", "trials": 2}):
            t.trial(0, {"lr": 0.1}, {"validation_average_precision": 0.5})
            mlflow.MlflowClient.log_batch = _killed  # inside trial 1, started
            t.trial(1, {"lr": 0.2}, {"validation_average_precision": 0.6})
    else:
        from fraud_app.tracking.backtest import backtest_tracker

        t = backtest_tracker(cfg)
        with t.parent("backtest-s1", {"folds": 2}):
            t.fold(_fold(0))
            mlflow.MlflowClient.log_batch = _killed
            t.fold(_fold(1))


def _child(log: Path, env: dict[str, str], kill_at: str | None, target, args) -> None:
    _start(log, env, kill_at)
    target(*args)


def killed_child(log: Path, kill_at: str | None, target, *args, timeout: float) -> None:
    """Run `target(*args)` in a forked child whose `MlflowClient.<kill_at>` SIGKILLs it
    (None: `target` kills it itself); assert that it died of the SIGKILL (its stderr, in
    `log`, in the message otherwise)."""
    _CONTEXT.set_forkserver_preload(PRELOAD)  # read when the forkserver starts (once)
    proc = _CONTEXT.Process(target=_child, args=(log, dict(os.environ), kill_at, target, args))
    proc.start()
    proc.join(timeout)
    if proc.exitcode is None:
        proc.kill()
        proc.join(60)
    stderr = log.read_text(errors="replace")[-3000:] if log.exists() else "(no stderr)"
    assert proc.exitcode == -signal.SIGKILL, (
        f"the child was not killed at {kill_at} (exit {proc.exitcode}):\n{stderr}"
    )
