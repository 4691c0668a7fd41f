"""MLflow for `fraud-app tune`: one parent run per search, one nested run per trial.

`tune_tracker(config)` is the hook pipelines.tune.pipeline calls: None when
`tracking.enabled` is false (the caller then uses its no-op tracker), else a
TuneTracker on the configured store (reached within tracking.connect_timeout_s).

Parent run `tune-<run>`: tags fraud_app.kind=tune, params method / trials, and at the
end the best trial's index, params and validation AP (`best_*`). Each trial: a nested
run `trial-NNN` with tag fraud_app.kind=tune_trial, the search point as params
(`hidden` as JSON) and its validation metrics.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from fraud_app.tracking.client import store_error
from fraud_app.tracking.killed_runs import start_owned_run

logger = logging.getLogger(__name__)


def _param_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v:  # NaN
            continue
        out[k.replace("@", "_at_")] = float(v)
    return out


@contextlib.contextmanager
def parent_run(mlflow, store, kind: str, run_name: str, params: dict[str, Any]):
    """A parent run (tags fraud_app.kind / fraud_app.run, `params`) that yields its id and
    ends FINISHED when the block completes, FAILED when it raises (the nested runs that
    finished stay). TrackingError naming the store when the run cannot start. Started as
    every run is (killed_runs.start_owned_run): owned by this process, and a run of this
    name and kind a killed process left RUNNING is ended as KILLED, its nested runs too."""
    try:
        run_id = start_owned_run(mlflow.MlflowClient(store.uri), store.experiment_id,
                                 run_name, kind, tags={"fraud_app.run": run_name})  # fmt: skip
        run = mlflow.start_run(run_id=run_id)
    except Exception as exc:
        raise store_error(store.uri, f"cannot start the {kind} run", exc) from exc
    status = "FAILED"
    try:
        mlflow.log_params({k: _param_text(v) for k, v in params.items()})
        yield run.info.run_id
        status = "FINISHED"
    finally:
        mlflow.end_run(status)


@contextlib.contextmanager
def nested_run(mlflow, store, parent: str, run_name: str, kind: str, tags: dict[str, str]):
    """A nested run of `parent` (owned, killed_runs.start_owned_run), active in the block."""
    run_id = start_owned_run(mlflow.MlflowClient(store.uri), store.experiment_id, run_name,
                             kind, tags=tags, parent=parent)  # fmt: skip
    with mlflow.start_run(run_id=run_id, nested=True) as run:
        yield run


class TuneTracker:
    """Parent + nested trial runs on one MLflow store (see the module docstring)."""

    def __init__(self, store) -> None:
        import mlflow

        self._mlflow = mlflow
        self.store = store
        self.run_id: str | None = None
        self.trial_run_ids: list[str] = []
        self._best: tuple[float, int, dict[str, Any]] | None = None

    @contextlib.contextmanager
    def parent(self, run_name: str, params: dict[str, Any]):
        with parent_run(self._mlflow, self.store, "tune", run_name, params) as run_id:
            self.run_id = run_id
            yield self
            self._log_best()

    def trial(self, index: int, params: dict[str, Any], metrics: dict[str, float]) -> None:
        """One nested run under the parent: the point's params and its validation metrics."""
        with nested_run(self._mlflow, self.store, self.run_id, f"trial-{index:03d}",
                        "tune_trial", {"trial": str(index)}) as child:  # fmt: skip
            self._mlflow.log_params({k: _param_text(v) for k, v in params.items()})
            self._mlflow.log_metrics(_finite(metrics))
            self.trial_run_ids.append(child.info.run_id)
        ap = metrics.get("validation_average_precision")
        if isinstance(ap, int | float) and ap == ap and (self._best is None or ap > self._best[0]):
            self._best = (float(ap), index, params)

    def _log_best(self) -> None:
        if self._best is None:
            return
        ap, index, params = self._best
        self._mlflow.log_metric("best_validation_average_precision", ap)
        self._mlflow.log_params(
            {"best_trial": index, **{f"best_{k}": _param_text(v) for k, v in params.items()}}
        )


def tune_tracker(config) -> TuneTracker | None:
    """The tune hook: None with tracking off; else a tracker on the configured store."""
    if not config.tracking.enabled:
        return None
    from fraud_app.tracking.client import connect

    return TuneTracker(connect(config))
