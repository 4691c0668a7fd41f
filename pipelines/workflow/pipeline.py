"""The whole workflow: generate (optional) -> ETL -> validate -> features -> validate -> train
-> score the test window (the batch scoring job, as a scheduler would run it daily).

Train includes the MLlib baselines and, with tracking on, registration of the ensemble
and the promotion gate (pipelines.training.lifecycle and gate); `steps["train"]["model_uri"]` is
the registered version's URI (models:/<name>/<version>) for the steps that follow.

What a scheduler (cron, Airflow) runs via `fraud-app run`. Each step is the same
function its own CLI subcommand calls; a failing error-severity data check stops
the workflow before any model is trained.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraud_app.config import AppConfig
from fraud_app.data.generator import (
    RAW_COLUMN_NAMES,
    RAW_TIMESTAMP_FORMAT,
    generate_raw,
    write_raw,
)
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.table_read import read_table
from fraud_app.features.pipeline import build_feature_table
from fraud_app.features.spec import FeatureSet
from fraud_app.naming import check_name
from fraud_app.scoring.job import run_scoring
from fraud_app.spark.connect import FILE_SYSTEM, classic_only
from fraud_app.tracking.client import open_store
from fraud_app.validation.runner import import_great_expectations
from fraud_app.validation.validate import validate_canonical, validate_features
from pipelines.training.pipeline import run_training
from pipelines.training.run_names import check_run_free

logger = logging.getLogger(__name__)


@dataclass
class WorkflowResult:
    steps: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _timed(result: WorkflowResult, name: str, fn, *args, **kwargs):
    logger.info("step %s: starting", name)
    t0 = time.monotonic()
    out = fn(*args, **kwargs)
    result.seconds[name] = round(time.monotonic() - t0, 1)
    logger.info("step %s: done in %.1fs", name, result.seconds[name])
    return out


def start_warm_up(config: AppConfig) -> threading.Thread:
    """Start, on a daemon thread, the one-off set-ups that later steps would wait for:
    importing Great Expectations (validation; ~4 s of CPU) and, with tracking on, opening
    the tracking store (training; a new sqlite store runs MLflow's migrations, ~4 s of
    CPU). The steps call the same functions, which wait while this thread is in them; a
    failure here is logged at DEBUG and raised again, with its message, by the step's own
    call.

    Start it only while the main thread waits in ONE long Spark action: a thread that
    holds the GIL makes every Py4J round trip of the main thread wait for it (up to the
    5 ms switch interval each; 0.8 -> 22 ms per call measured at load 11), and building a
    step's plan takes thousands of them (`run_workflow` starts it when the generate
    step's write job begins)."""

    def warm_up() -> None:
        tasks = [import_great_expectations]
        if config.tracking.enabled:
            tasks.append(lambda: open_store(config))
        for task in tasks:
            try:
                task()
            except Exception:
                logger.debug("warm-up: %s failed; the step will retry it", task, exc_info=True)

    thread = threading.Thread(target=warm_up, name="workflow-warm-up", daemon=True)
    thread.start()
    return thread


def reading_generated(config: AppConfig) -> AppConfig:
    """config whose ETL reads the files the generate step wrote: the etl settings a user
    left unset (column mapping, timestamp format, file format) take the generator's, so
    `run --generate` works on the built-in defaults, not only with configs/demo.yaml's
    mapping. Settings the user gave are kept, but for etl.time_zone: the generator writes
    UTC wall clocks."""
    etl = config.etl
    update: dict[str, Any] = {}
    if not etl.columns:
        update["columns"] = dict(RAW_COLUMN_NAMES)
    if etl.timestamp_format is None:
        update["timestamp_format"] = RAW_TIMESTAMP_FORMAT
    if etl.format is None:
        update["format"] = config.generate.format
    if etl.time_zone is not None:
        update["time_zone"] = None  # the generator writes UTC wall clocks
    if not update:
        return config
    logger.info("ETL reads the generated files with the generator's %s", ", ".join(update))
    return config.model_copy(update={"etl": etl.model_copy(update=update)})


@classic_only("run_workflow", FILE_SYSTEM)  # before a run's name is checked or data generated
def run_workflow(
    spark,
    config: AppConfig,
    *,
    generate: bool,
    run: str | None = None,
    warm_up: bool = False,
    replace: bool = False,
    feature_set: FeatureSet | None = None,
) -> WorkflowResult:
    """warm_up: with `generate`, `start_warm_up` while the generated data is written.
    A `run` that already finished is refused before any step unless `replace`.
    feature_set: config.features' specs already parsed (`fraud-app run` checks them before
    Spark starts); None: the features step reads them."""
    if run:
        check_name(run, "run name")
        check_run_free(config, run, replace=replace)
    result = WorkflowResult()
    if generate:
        raw = config.paths.resolve("raw")
        rows = config.generate.n_transactions
        _step(result, "generate", lambda _: {"output": raw, "rows": rows},
              _generate, spark, config, raw, warm_up)  # fmt: skip
        config = reading_generated(config)
    _step(result, "etl", _as_dict, run_etl, spark, config)
    canonical = config.etl_tables()[0]  # what this run's ETL step just published
    _step(result, "validate_canonical", _validation_record, validate_canonical, spark,
          read_table(spark, canonical, "canonical table", "etl"), config, table=canonical)  # fmt: skip
    _step(result, "features", _as_dict, build_feature_table, spark, config, feature_set)
    features = config.feature_table()
    _step(result, "validate_features", _validation_record, validate_features, spark,
          read_table(spark, features, "feature table", "features"), config, table=features)  # fmt: skip
    training = _step(result, "train", _training_record, run_training, spark, config,
                     run=run, replace=replace)  # fmt: skip
    _step(result, "score", _scoring_record, score_test_window, spark, config,
          training.report_path)  # fmt: skip
    return result


def _step(result: WorkflowResult, name: str, record, fn, *args, **kwargs):
    """Run one step (`_timed`), put `record(its output)` in result.steps[name] and return
    the output."""
    out = _timed(result, name, fn, *args, **kwargs)
    result.steps[name] = record(out)
    return out


def _generate(spark, config: AppConfig, raw: str, warm_up: bool) -> None:
    df = generate_raw(spark, config.generate)  # the plan: Py4J calls, no job
    if warm_up:
        start_warm_up(config)
    write_raw(df, raw, config.generate.format)  # one write job


def _as_dict(out) -> dict[str, Any]:
    return out.to_dict()


def _validation_record(report) -> dict[str, Any]:
    return {"success": report.success, "html": report.html_path}


def _training_record(training) -> dict[str, Any]:
    return {
        "model": training.model_path,
        "report": training.report_path,
        "metrics": training.metrics,
        "model_uri": training.model_uri,
        "registry": training.registry,
        "baselines": training.baselines,
        "mlflow_run_id": training.mlflow_run_id,
    }


def _scoring_record(scoring) -> dict[str, Any]:
    return {
        "summary": scoring.summary_path,
        "partitions": len(scoring.partitions),
        "rows": sum(d["rows"] for d in scoring.summary["dates"]),
        "alerts": sum(d["alerts"] for d in scoring.summary["dates"]),
    }


def score_test_window(spark, config: AppConfig, report_path: str):
    """The batch scoring job on the test window of a training run, with that run's model."""
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    test = report["splits"]["windows"]["test"]
    start = dt.datetime.fromisoformat(test["start"]).date()
    end = (dt.datetime.fromisoformat(test["end"]) - dt.timedelta(days=1)).date()
    return run_scoring(spark, config, start=start, end=end, model_uri=report["model_path"])
