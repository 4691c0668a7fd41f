"""Child processes killed with a real SIGKILL at a named MLflow call (the kill -9 tests:
test_killed_runs, test_promote_killed, test_run_ownership).

Each child was `python -c CODE`: a new interpreter that imported MLflow, the app and its
helpers (~3 s of CPU, 7-10 s of wall time at load 8-10 on the 2-core machine) before the
few requests it made until the kill, and measured dlcore's backends (~1.5 s of CPU) for a
two-weight model. Now each is forked from the forkserver of tests/forked.py, which imported
them once: still a process of its own (its own pid and start time, what the owner tags
record and the retry checks), killed for real and reaped, so its pid is gone as a killed
process's.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.forked import killed_by, run_forked, sigkill


def train_or_score(root: Path, what: str) -> None:
    """`train --run w1` (the gate of test_killed_runs' ensemble) or `score` of job day20."""
    from tests.fraud_app.tracking import helpers as h

    cfg = h.config(root)
    if what == "train":
        h.gate_on_rows(cfg, root / "killed", h.linear_ensemble(2.0), "w1", h.rows(400, seed=3))
    else:
        from fraud_app.tracking.jobs import log_scoring_job

        log_scoring_job({"job_id": "day20", "dates": []}, root / "summary.json", cfg)


def promote(db: Path, name: str, version: str, experiment: str, reason: str = "") -> None:
    import mlflow

    from fraud_app.tracking.registry import promote

    client = mlflow.MlflowClient(f"sqlite:///{db}")
    promote(client, name, version, experiment_id=experiment, reason=reason)


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
            mlflow.MlflowClient.log_batch = sigkill  # inside trial 1, started
            t.trial(1, {"lr": 0.2}, {"validation_average_precision": 0.6})
    else:
        from fraud_app.tracking.backtest import backtest_tracker

        t = backtest_tracker(cfg)
        with t.parent("backtest-s1", {"folds": 2}):
            t.fold(_fold(0))
            mlflow.MlflowClient.log_batch = sigkill
            t.fold(_fold(1))


def killed_child(root: Path, kill_at: str | None, target, *args, timeout: float) -> None:
    """Run `target(*args)` in a forked child (in `root`, the test's environment without
    MLFLOW_TRACKING_URI: the config's store) whose `MlflowClient.<kill_at>` SIGKILLs it
    (None: `target` kills it itself); assert that it died of the SIGKILL."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # the child's model of two weights: dlcore's backend measurement (~1.5 s of CPU) is
    # not what these tests test; either backend gives the same decision
    env["DLCORE_BACKEND"] = "numpy"
    done = run_forked(killed_by, kill_at, target, *args, cwd=root, env=env, timeout=timeout)
    assert done.returncode == -signal.SIGKILL, (
        f"the child was not killed at {kill_at} (exit {done.returncode}):\n{done.stderr[-3000:]}"
    )
