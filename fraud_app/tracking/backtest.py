"""MLflow for `fraud-app backtest`: one parent run per backtest, one nested run per fold.

`backtest_tracker(config)` is the hook pipelines.backtest.pipeline calls: None when
`tracking.enabled` is false (the caller then tracks nothing), else a BacktestTracker on
the configured store (reached within tracking.connect_timeout_s).

Parent run `backtest-<run>`: tags fraud_app.kind=backtest, the backtest settings as params,
the mean, std and fold count of every model's metrics (`<model>_<metric>_mean` / `_std` /
`_folds`: how many folds define the metric, fraud_app.evaluation.ranking.mean_std), the leakage
verdict as a tag and the whole report as `backtest.json`. Each fold: a nested run
`fold-NN` (tag fraud_app.kind=backtest_fold) with its windows as params and each model's
metrics (`<model>_<metric>`). Started before the first fold trains, so a backtest that
fails part-way leaves a FAILED parent with the folds that finished.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fraud_app import jsonout
from fraud_app.tracking.tune import _finite, nested_run, parent_run


class BacktestTracker:
    """Parent + nested fold runs on one MLflow store (see the module docstring)."""

    def __init__(self, store) -> None:
        import mlflow

        self._mlflow = mlflow
        self.store = store
        self.run_id: str | None = None

    @contextlib.contextmanager
    def parent(self, run_name: str, params: dict[str, Any]):
        with parent_run(self._mlflow, self.store, "backtest", run_name, params) as run_id:
            self.run_id = run_id
            yield self

    def fold(self, result: dict[str, Any]) -> None:
        """One nested run: the fold's windows and every model's metrics."""
        index = result["fold"]
        tags = {"fold": str(index), "leakage_check_ok": str(result["leakage_check"]["ok"])}
        with nested_run(self._mlflow, self.store, self.run_id, f"fold-{index:02d}",
                        "backtest_fold", tags):  # fmt: skip
            self._mlflow.log_params({k: str(v) for k, v in result["windows"].items()})
            self._mlflow.log_metrics(_finite(_model_metrics(result["models"])))

    def summary(self, report: dict[str, Any]) -> None:
        """On the parent: mean / std / folds per model and metric, the leakage verdict, the
        report."""
        flat = {}
        for model, metrics in report["summary"].items():
            if isinstance(metrics, dict):
                for name, stats in metrics.items():
                    flat.update({f"{model}_{name}_{k}": v for k, v in stats.items()})
        self._mlflow.log_metrics(_finite(flat))
        self._mlflow.set_tag("leakage_checks_ok", str(report["summary"]["leakage_checks_ok"]))
        self._mlflow.log_text(jsonout.dumps(report, indent=2, default=str), "backtest.json")


def _model_metrics(models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{m}_{k}": v for m, metrics in models.items() for k, v in metrics.items()}


def backtest_tracker(config) -> BacktestTracker | None:
    """The backtest hook: None with tracking off; else a tracker on the configured store."""
    if not config.tracking.enabled:
        return None
    from fraud_app.tracking.client import connect

    return BacktestTracker(connect(config))
