"""One MLflow run per training: config, lineage, per-member and per-baseline nested runs.

`start_training_run(config, name)` returns a tracker; with `tracking.enabled: false`
it is a NullTracker whose methods do nothing, so callers never branch on it.
Per-group training figures are logged from the trainer's history after each member
finishes (one batched request per member), not inside the training loop.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from fraud_app.errors import TrackingError
from fraud_app.redaction import redact_mapping, redact_text
from fraud_app.tracking.client import store_error
from fraud_app.tracking.killed_runs import ERROR_TAG, start_owned_run
from fraud_app.tracking.ownership import PROJECT_TAG, project_identity

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


def _import_spark_ml() -> None:
    """Import pyspark.ml here, on the tracking thread, before training imports it.

    MLflow's Param checks `"pyspark.ml" in sys.modules` and then reads `pyspark.ml.param`:
    if the training thread were half-way through importing pyspark.ml (the baselines do),
    that read fails. Imported first here, the training thread's import waits for it.
    """
    if "pyspark" in sys.modules:
        import pyspark.ml.param  # noqa: F401


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
    """One MLflow run; its calls run on a background thread (fraud_app.tracking.worker).

    Recording methods return at once; `log_model` and `call` wait for their result;
    leaving the `with` block waits (within tracking.flush_timeout_s) for everything.
    """

    enabled = True

    def __init__(self, config, store, run_name: str) -> None:
        import mlflow

        from fraud_app.tracking.worker import Worker

        self._mlflow = mlflow
        self.client = mlflow.MlflowClient(store.uri)
        self.config = config
        self.store = store
        self.run_name = run_name
        self.run_id: str | None = None
        self.model_id: str | None = None  # the logged model's id, once logged
        self.timeout_s = config.tracking.flush_timeout_s
        self._worker = Worker(nice=config.tracking.thread_nice)
        self.seconds = self._worker.seconds  # wall time per kind of call, on the thread
        self.cpu_seconds = self._worker.cpu_seconds  # the thread's own CPU time per kind
        self.waited_s = 0.0  # time the training thread spent waiting for tracking

    def __enter__(self):
        try:
            self.run_id = self.call("start_run", self._start)
        except BaseException:
            self._worker.close()
            raise
        self.submit("imports", _import_spark_ml)
        return self

    def _start(self) -> str:
        alike = {PROJECT_TAG: project_identity(self.config), "fraud_app.run": self.run_name}
        try:
            # this name's run lock is held: a RUNNING run of it is a killed process's
            run_id = start_owned_run(self.client, self.store.experiment_id, self.run_name,
                                     "training", tags=alike, alike=alike)  # fmt: skip
            self._mlflow.start_run(run_id=run_id)  # the fluent API logs to it (this thread)
        except Exception as exc:
            raise store_error(self.store.uri, "cannot start a run", exc) from exc
        return run_id

    def __exit__(self, exc_type, exc, tb) -> None:
        self.submit("end_run", self._end, exc, always=True)
        try:
            self._timed(self._worker.flush, self.timeout_s)
        except TrackingError as err:
            if exc_type is None:
                raise
            logger.warning("tracking: %s (the run failed anyway: %s)", err, exc)
        finally:
            self._worker.close()
            logger.info("tracking: %s", self.summary(), extra={
                "tracking_seconds": dict(self.seconds), "tracking_waited_s": self.waited_s,
                "tracking_cpu_seconds": dict(self.cpu_seconds),
                "tracking_nice": self._worker.nice})  # fmt: skip

    def _end(self, exc: BaseException | None) -> None:
        """End the run FINISHED, or FAILED with its error (ERROR_TAG: the training's, else
        the first failed tracking call's), which a version it left unaliased is tagged
        with (killed_runs.mark_orphans)."""
        failure = self._worker.failure
        if exc is None and failure is not None:
            exc = failure[1]
        if exc is None:
            self._mlflow.end_run("FINISHED")
            return
        text = redact_text(f"{type(exc).__name__}: {exc}")[:1000]
        try:
            self._mlflow.set_tag(ERROR_TAG, text)
        finally:
            self._mlflow.end_run("FAILED")

    def summary(self) -> str:
        items = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        busy = ", ".join(f"{k} {v:.2f}s/{self.cpu_seconds.get(k, 0.0):.2f}s" for k, v in items)
        return (f"background {sum(self.seconds.values()):.2f}s wall / "
                f"{sum(self.cpu_seconds.values()):.2f}s CPU at nice {self._worker.nice} "
                f"({busy}); waited {self.waited_s:.2f}s")  # fmt: skip

    # -- running on the tracking thread --------------------------------------------------
    def submit(self, label: str, fn, *args, always: bool = False, **kwargs):
        """Run fn(*args, **kwargs) on the tracking thread after what is queued; a Future."""
        return self._worker.submit(label, fn, *args, always=always, **kwargs)

    def call(self, label: str, fn, *args, **kwargs):
        """Run fn on the tracking thread after what is queued and wait for its result."""
        return self._timed(self._worker.call, label, fn, *args, timeout_s=self.timeout_s,
                           **kwargs)  # fmt: skip

    def result(self, future, label: str):
        """Wait (within tracking.flush_timeout_s) for a Future from `submit`."""
        from fraud_app.tracking.worker import wait

        return self._timed(wait, future, label, self.timeout_s, self._worker)

    def _timed(self, fn, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.waited_s += time.perf_counter() - t0

    # -- what every run records ----------------------------------------------------------
    def log_config(self, config) -> None:
        self.submit("config", self._log_config, config)

    def _log_config(self, config) -> None:
        """The config as params and config.json, its credentials redacted (a password in
        tracking.uri, a key in spark.conf: fraud_app.redaction): anyone who can read the
        run can read its params."""
        data = redact_mapping(config.model_dump(mode="json"))
        self._mlflow.log_params({f"config.{k}": v for k, v in flatten(data).items()})
        self._mlflow.log_text(json.dumps(data, indent=2, ensure_ascii=False), "config.json")

    def log_data_lineage(self, spark, config) -> None:
        """Digest the canonical and feature tables and log the lineage, on the thread."""
        from fraud_app.tracking import lineage

        self.submit("lineage", lambda: self._log_lineage(lineage.collect(spark, config)))

    def log_lineage(self, lineage: dict[str, Any]) -> None:
        self.submit("lineage", self._log_lineage, lineage)

    def _log_lineage(self, lineage: dict[str, Any]) -> None:
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.spark_dataset_source import SparkDatasetSource

        params = {}
        for name, t in lineage["tables"].items():
            params.update({f"data.{name}.path": t["path"], f"data.{name}.rows": t["rows"],
                           f"data.{name}.digest": t["digest"],
                           f"data.{name}.content_digest": t.get("content_digest")})  # fmt: skip
            if t["digest"]:
                source = SparkDatasetSource(path=redact_text(t["path"]))
                ds = MetaDataset(source, name=name, digest=t["digest"])
                self._mlflow.log_input(ds, context="training", tags={"rows": str(t["rows"])})
        spec = lineage.get("feature_spec") or {}
        params.update({"data.feature_spec.digest": spec.get("digest"),
                       "data.feature_spec.version": spec.get("version"),
                       "data.feature_spec.files": json.dumps(spec.get("files"))})  # fmt: skip
        if lineage.get("dlcore_backend"):
            params["dlcore.backend"] = lineage["dlcore_backend"]
        params.update(environment_params(lineage.get("environment") or {}))
        self._mlflow.log_params(redact_mapping(params))
        if lineage.get("git_commit"):
            self._mlflow.set_tag("mlflow.source.git.commit", lineage["git_commit"])
        elif "environment" in lineage:
            self._drop_foreign_git_tags()
        self._mlflow.log_dict(redact_mapping(lineage), "lineage.json")

    def _drop_foreign_git_tags(self) -> None:
        """MLflow tags a run with the git checkout holding the entry script (`sys.argv[0]`):
        `fraud-app` in a virtual environment inside the user's own project names that
        project's commit. When this code is tracked by no checkout, those tags name
        other code: they are removed (`code.git_commit` is then absent)."""
        tags = self.client.get_run(self.run_id).data.tags
        for key in ("mlflow.source.git.commit", "mlflow.source.git.branch",
                    "mlflow.source.git.repoURL"):  # fmt: skip
            if key in tags:
                self.client.delete_tag(self.run_id, key)

    def log_feature_names(self, names: list[str]) -> None:
        self.submit("artifacts", self._log_feature_names, list(names))

    def _log_feature_names(self, names: list[str]) -> None:
        self._mlflow.log_dict({"feature_names": names}, "feature_names.json")
        self._mlflow.log_param("n_features", len(names))

    def log_member(self, index: int, result, *, subset_rows: int | None = None) -> None:
        """A nested run per ensemble member: its training history with the iteration as step."""
        self.submit("members", self._log_member, index, result, subset_rows)

    def _log_member(self, index: int, result, subset_rows: int | None) -> None:
        from mlflow.entities import Metric

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
        best = getattr(result, "best_iteration", None)
        if best is not None:
            metrics.append(Metric("best_iteration", float(best), now, 0))
        params = {"member": index, "iterations": result.iterations, "retries": result.retries,
                  "rows": subset_rows or result.rows}  # fmt: skip
        self._nested_run(f"member-{index:02d}", "ensemble_member", params, metrics)

    def _nested_run(self, name: str, kind: str, params: dict[str, Any], metrics: list) -> str:
        """A finished nested run in three requests: created with every tag (MLflow's own
        context tags, as fluent start_run sets them), one batch of params + metrics, ended.
        Nested runs go to the parent's experiment (not MLflow's "current" one)."""
        from mlflow.entities import Param

        run_id = start_owned_run(self.client, self.store.experiment_id, name, kind,
                                 parent=self.run_id)  # fmt: skip
        try:
            self.client.log_batch(
                run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()]
            )
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        self.client.set_terminated(run_id, "FINISHED")
        return run_id

    def log_baseline(self, name: str, params: dict[str, Any], metrics: dict[str, dict]) -> None:
        self.submit("baselines", self._log_baseline, name, params, metrics)

    def _log_baseline(self, name: str, params: dict[str, Any], metrics: dict[str, dict]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, v, now, 0) for window, m in metrics.items()
                 for k, v in _numeric(m, f"{window}_").items()]  # fmt: skip
        params = {"baseline": name, **{k: str(v) for k, v in params.items()}}
        self._nested_run(f"baseline-{name}", "baseline", params, batch)

    def log_window_metrics(self, metrics: dict[str, dict], prefix: str = "") -> None:
        self.submit("metrics", self._log_window_metrics, metrics, prefix)

    def _log_window_metrics(self, metrics: dict[str, dict], prefix: str) -> None:
        """One batch; linked to the logged model (as MLflow links a run's metrics) once logged."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(k, v, now, 0, model_id=self.model_id)
            for window, m in metrics.items()
            for k, v in _numeric(m, f"{prefix}{window}_").items()
        ]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)

    def log_artifact_file(self, path: str | Path, subdir: str | None = None) -> None:
        if Path(path).is_file():
            self.submit("artifacts", self._mlflow.log_artifact, str(path), subdir)

    def log_dict(self, data: dict, name: str) -> None:
        self.submit("artifacts", self._mlflow.log_dict, data, name)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.submit("tags", self._mlflow.set_tags, {k: str(v) for k, v in tags.items()})

    def log_model_async(self, model_dir, feature_names, example, *, registered_name=None):
        """Log the pyfunc model on the thread; a Future of its LoggedModel."""
        return self.submit(
            "log_model", self._log_model, model_dir, feature_names, example, registered_name
        )

    def log_model(self, model_dir, feature_names, example, *, registered_name):
        return self.result(
            self.log_model_async(model_dir, feature_names, example,
                                 registered_name=registered_name), "log_model",
        )  # fmt: skip

    def log_model_on_thread(self, model_dir, feature_names, example):
        """For a job already running on the tracking thread: log the model now."""
        return self._log_model(model_dir, feature_names, example, None)

    def _log_model(self, model_dir, feature_names, example, registered_name):
        from fraud_app.tracking.logged_model import log_ensemble

        logged = log_ensemble(model_dir, feature_names, example, registered_name=registered_name)
        self.model_id = logged.model_id
        self._mlflow.set_tags({"fraud_app.model_uri": logged.model_uri})
        return logged


def environment_params(env: dict[str, Any]) -> dict[str, Any]:
    """lineage.environment() as params: `versions.<dist>`, `dlcore.library` and
    `dlcore.threads`, `code.git_commit` and `code.git_dirty` (absent: not a checkout)."""
    out: dict[str, Any] = {f"versions.{k}": v for k, v in (env.get("versions") or {}).items()}
    dl = env.get("dlcore") or {}
    out.update({"dlcore.library": dl.get("library"), "dlcore.threads": dl.get("threads")})
    git = env.get("git")
    if git:
        out.update({"code.git_commit": git.get("commit"), "code.git_dirty": git.get("dirty")})
    return {k: v for k, v in out.items() if v is not None}


def start_training_run(config, run_name: str):
    """A tracker for one training run (connects within tracking.connect_timeout_s)."""
    if not config.tracking.enabled:
        return NullTracker()
    from fraud_app.tracking.client import connect

    return MlflowTracker(config, connect(config), run_name)
