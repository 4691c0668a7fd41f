"""One MLflow run per training: config, lineage, per-member and per-baseline nested runs.

`start_training_run(config, name)` returns a tracker; with `tracking.enabled: false`
it is a NullTracker whose methods do nothing, so callers never branch on it.
Per-group training figures are logged from the trainer's history after each member
finishes (one batched request per member), not inside the training loop.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from fraud_app.errors import TrackingError

logger = logging.getLogger(__name__)

# history entry key -> metric name (the iteration at the group's end is the step)
HISTORY_METRICS = {
    "loss": "train_loss",
    "samples_per_s": "samples_per_s",
    "compute_share": "compute_share",
    "sync_share": "sync_share",
    "scheduling_share": "scheduling_share",
}
MAX_PARAM_CHARS = 6000


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """Nested dicts -> {"a.b.c": "value"}; lists become JSON text."""
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    text = json.dumps(data, default=str) if isinstance(data, list | tuple) else str(data)
    out[prefix.rstrip(".")] = text[:MAX_PARAM_CHARS]
    return out


def _numeric(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v:  # NaN
            continue
        out[f"{prefix}{k}".replace("@", "_at_")] = float(v)
    return out


class NullTracker:
    """Tracking switched off: every call is a no-op."""

    enabled = False
    run_id: str | None = None
    store = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __getattr__(self, name):
        return lambda *a, **k: None


class MlflowTracker:
    enabled = True

    def __init__(self, config, store, run_name: str) -> None:
        import mlflow

        self._mlflow = mlflow
        self.client = mlflow.MlflowClient(store.uri)
        self.config = config
        self.store = store
        self.run_name = run_name
        self.run_id: str | None = None

    def __enter__(self):
        try:
            run = self._mlflow.start_run(
                experiment_id=self.store.experiment_id, run_name=self.run_name
            )
        except Exception as exc:
            raise TrackingError(
                f"tracking store {self.store.uri}: cannot start a run: {exc}"
            ) from exc
        self.run_id = run.info.run_id
        self._mlflow.set_tags({"fraud_app.run": self.run_name, "fraud_app.kind": "training"})
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._mlflow.end_run("FAILED" if exc_type else "FINISHED")

    def _child(self, name: str):
        # Nested runs go to the parent's experiment (not MLflow's "current" one).
        return self._mlflow.start_run(
            experiment_id=self.store.experiment_id, run_name=name, nested=True
        )

    # -- what every run records ----------------------------------------------------------
    def log_config(self, config) -> None:
        params = flatten(config.model_dump(mode="json"))
        self._mlflow.log_params({f"config.{k}": v for k, v in params.items()})
        self._mlflow.log_text(json.dumps(config.model_dump(mode="json"), indent=2), "config.json")

    def log_lineage(self, lineage: dict[str, Any]) -> None:
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.spark_dataset_source import SparkDatasetSource

        params = {}
        for name, t in lineage["tables"].items():
            params.update({f"data.{name}.path": t["path"], f"data.{name}.rows": t["rows"],
                           f"data.{name}.digest": t["digest"]})  # fmt: skip
            if t["digest"]:
                ds = MetaDataset(SparkDatasetSource(path=t["path"]), name=name, digest=t["digest"])
                self._mlflow.log_input(ds, context="training", tags={"rows": str(t["rows"])})
        spec = lineage.get("feature_spec") or {}
        params.update({"data.feature_spec.digest": spec.get("digest"),
                       "data.feature_spec.version": spec.get("version"),
                       "data.feature_spec.files": json.dumps(spec.get("files"))})  # fmt: skip
        self._mlflow.log_params(params)
        if lineage.get("git_commit"):
            self._mlflow.set_tag("mlflow.source.git.commit", lineage["git_commit"])
        self._mlflow.log_dict(lineage, "lineage.json")

    def log_feature_names(self, names: list[str]) -> None:
        self._mlflow.log_dict({"feature_names": list(names)}, "feature_names.json")
        self._mlflow.log_param("n_features", len(names))

    def log_member(self, index: int, result, *, subset_rows: int | None = None) -> None:
        """A nested run per ensemble member: its training history with the iteration as step."""
        from mlflow.entities import Metric

        with self._child(f"member-{index:02d}") as child:
            self._mlflow.set_tag("fraud_app.kind", "ensemble_member")
            self._mlflow.log_params({"member": index, "iterations": result.iterations,
                                     "retries": result.retries, "rows": subset_rows or result.rows})  # fmt: skip
            now = int(time.time() * 1000)
            metrics = [
                Metric(name, float(entry[key]), now, int(entry["end_iteration"]))
                for entry in result.history
                for key, name in HISTORY_METRICS.items()
                if entry.get(key) is not None
            ]
            for ev in getattr(result, "validation", None) or []:
                step = int(ev.get("iteration", ev.get("epoch", 0)))
                for k, v in ev.items():
                    if k not in ("epoch", "iteration") and isinstance(v, int | float):
                        metrics.append(Metric(f"validation_{k}", float(v), now, step))
            if metrics:
                self.client.log_batch(child.info.run_id, metrics=metrics)
            best = getattr(result, "best_iteration", None)
            if best is not None:
                self._mlflow.log_metric("best_iteration", float(best))

    def log_baseline(self, name: str, params: dict[str, Any], metrics: dict[str, dict]) -> None:
        with self._child(f"baseline-{name}"):
            self._mlflow.set_tag("fraud_app.kind", "baseline")
            self._mlflow.log_params({"baseline": name, **{k: str(v) for k, v in params.items()}})
            for window, m in metrics.items():
                self._mlflow.log_metrics(_numeric(m, f"{window}_"))

    def log_window_metrics(self, metrics: dict[str, dict], prefix: str = "") -> None:
        for window, m in metrics.items():
            self._mlflow.log_metrics(_numeric(m, f"{prefix}{window}_"))

    def log_artifact_file(self, path: str | Path, subdir: str | None = None) -> None:
        if Path(path).is_file():
            self._mlflow.log_artifact(str(path), subdir)

    def log_dict(self, data: dict, name: str) -> None:
        self._mlflow.log_dict(data, name)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_model(self, model_dir, feature_names, example, *, registered_name):
        from fraud_app.tracking.logged_model import log_ensemble

        return log_ensemble(model_dir, feature_names, example, registered_name=registered_name)


def start_training_run(config, run_name: str):
    """A tracker for one training run (connects within tracking.connect_timeout_s)."""
    if not config.tracking.enabled:
        return NullTracker()
    from fraud_app.tracking.client import connect

    return MlflowTracker(config, connect(config), run_name)
