"""Hyper-parameter search of the training config, selected on validation AP only.

Each trial is the config with one point of `tune.space` applied (network width/depth,
dropout, learning rate, pos_weight, loss, number of subsets, normal ratio); it balances
the train window, trains the ensemble (early stopping on validation as configured) and
scores the validation window. The test window is never read. The best trial's full
config is written as YAML (load it with `fraud-app -c <file> train`).

MLflow: when tracking is on, every trial is a nested run under one parent run. The
hook is `tracker_for(config)`: it imports `fraud_app.tracking.tune.tune_tracker` lazily
(a no-op tracker when tracking is off); this module never imports mlflow itself.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dlcore.errors import DlcoreError
from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import (
    ConcurrentRunError,
    ConfigError,
    EmptyInputError,
    FraudAppError,
    ReportExistsError,
    TrainingError,
)
from fraud_app.etl.lock import RootLock
from fraud_app.etl.readers import reads
from fraud_app.evaluation.config import TuneSection
from fraud_app.interrupts import Terminated
from fraud_app.naming import MAX_SUFFIX
from fraud_app.redaction import secret_settings
from fraud_app.spark.broadcasts import released
from fraud_app.spark.connect import BARRIER, classic_only
from fraud_app.spark.session import utc_session
from pipelines.named_reports import pick_run, write_output
from pipelines.training import nodes
from pipelines.training.feature_input import read_features
from pipelines.tune.journal import JournaledTrials, TrialJournal, data_fingerprint
from pipelines.tune.space import best_config, check_plan, plan

logger = logging.getLogger(__name__)


class NullTracker:
    """The tracking hook's no-op form: `parent(run_name, params)` wraps the search,
    `trial(index, params, metrics)` records one trial (a nested run in MLflow)."""

    @contextlib.contextmanager
    def parent(self, run_name: str, params: dict[str, Any]):
        yield self

    def trial(self, index: int, params: dict[str, Any], metrics: dict[str, float]) -> None:
        return None


def tracker_for(config: AppConfig):
    """fraud_app.tracking's `tune_tracker(config)`: an object with the NullTracker
    interface (nested MLflow runs when tracking is on), or None when off."""
    from fraud_app.tracking.tune import tune_tracker

    return tune_tracker(config) or NullTracker()


def check_output(cfg: TuneSection) -> None:
    """`tune.output` (`--output`) can take the best config, checked before any trial trains:
    a directory there, or a parent that is a file or cannot be created, failed after every
    trial had trained, and the report (written after it) was lost too."""
    if not cfg.output:
        return  # <paths.reports>/tune-<run>-best.yaml: paths.root is checked by the CLI
    path = cfg.output_path()  # a file: URI as its local path (not a folder `file:`)
    if path.is_dir():
        raise ConfigError(
            f"tune.output {path} is a directory; give the YAML file to write the best config "
            f"to (e.g. {path / 'best.yaml'})"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"tune.output {path}: cannot create {path.parent} ({exc.strerror or exc}); give a "
            "path in a directory this user can write"
        ) from None


def outputs(config: AppConfig, cfg: TuneSection, run: str) -> list[Path]:
    """The files tune run `run` writes: its report and its best config."""
    reports = config.paths.local("reports")
    best = cfg.output_path() or reports / f"tune-{run}-best.yaml"
    return [reports / f"tune-{run}.json", best]


def check_run(
    config: AppConfig, cfg: TuneSection, run: str | None, *, replace: bool = False
) -> str:
    """The run name (pipelines.named_reports): a name whose report or best config exists
    is refused unless `replace`; None: the first free UTC stamp. An existing tune.output
    (`--output`) is refused too. The CLI calls it before Spark starts."""
    if cfg.output and not replace and cfg.output_path().exists():
        raise ReportExistsError(
            f"tune.output {cfg.output} already exists (the best config of an earlier tune); "
            "writing it would replace it. Give another --output (or leave tune.output out: "
            "reports/tune-<run>-best.yaml), or pass --replace to replace it"
        )

    def taken(r: str) -> list[Path]:  # a stamp held by a running tune is taken too
        return outputs(config, cfg, r)[:1 if cfg.output else 2] + ([] if run else [
            run_lock(config, r).path])  # fmt: skip

    return pick_run("tune", run, taken, replace=replace)


def run_lock(config: AppConfig, run: str) -> RootLock:
    """The lock a tune run name is held under while it runs
    (`<paths.reports>/.tune-<run>.lock`, fraud_app.etl.lock.RootLock: a dead pid's lock is
    taken over)."""
    return RootLock(str(config.paths.local("reports")), f"tune --run {run}", f".tune-{run}.lock",
                    "paths.reports")  # fmt: skip


@contextlib.contextmanager
def claimed_run(
    config: AppConfig, cfg: TuneSection, run: str | None, *, replace: bool = False
) -> Iterator[str]:
    """The run name (check_run), held by its lock while the block runs, checked again under
    it. Two tunes of one name ran at once: they appended to one journal and trained the
    same trials, and the one ending second failed with "already exists" after its last
    trial (with --replace, one removed the journal the other was writing); two started in
    the same second without --run took one UTC stamp. Now the second of one --run is a
    ConcurrentRunError naming the first, and a stamp held by a running tune is passed over
    (`-2`, ...)."""
    for _ in range(MAX_SUFFIX):
        name = check_run(config, cfg, run, replace=replace)
        lock = run_lock(config, name)
        try:
            lock.__enter__()
        except ConcurrentRunError:
            if run:
                raise
            continue  # another tune took this stamp since it was picked: the next one
        try:
            yield check_run(config, cfg, name, replace=replace)  # one that ended meanwhile
        finally:
            lock.__exit__(None, None, None)
        return
    raise ConcurrentRunError("no free tune run name; pass --run NAME")


@dataclass(frozen=True)
class _TuneData:
    """What every trial trains and is scored on: the time splits (train and validation
    windows; the test window is never read), the feature names and the vector column."""

    splits: Any  # SplitResult
    names: list[str]
    vector: str


@classic_only("run_tune", BARRIER)  # before the session's settings and the reader mark
@utc_session
@reads("features", "tune")
def run_tune(
    spark,
    config: AppConfig,
    cfg: TuneSection,
    *,
    run: str | None = None,
    replace: bool = False,
    points: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the trials; write the best config and `<paths.reports>/tune-<run>.json`; return
    the report. Existing files of `run` are refused (ReportExistsError) unless `replace`.
    `points`: the search points `plan` gave for `cfg` (the CLI plans before Spark starts);
    None: planned here."""
    check_output(cfg)
    with claimed_run(config, cfg, run, replace=replace) as run:
        return _tune(spark, config, cfg, run, replace, points)


def _tune(spark, config: AppConfig, cfg: TuneSection, run: str, replace: bool, points):
    """run_tune under the run name's lock."""
    if points is None:
        cfg, points = plan(config, cfg)
    trial_configs = check_plan(config, points)
    data, fingerprint = tune_data(spark, config)
    trials = JournaledTrials.open(config, run, points, trial_configs, replace=replace,
                                  data=fingerprint)  # fmt: skip
    records = _run_trials(trials, data, cfg, tracker_for(config))
    return _write_best(config, cfg, trials, records, replace=replace)


def tune_data(spark, config: AppConfig) -> tuple[_TuneData, str]:
    """What the trials train and are scored on (the feature table's windows), checked
    (a validation window AP can be defined on), and its `journal.data_fingerprint`."""
    df, names = read_features(spark, config, "tune")
    vector = config.features.vector_column or "features"
    splits = nodes.split(df, config.splits, content=True,  # the fingerprint's checksums
                         label_delay_days=config.features.label_delay_days)  # fmt: skip
    check_validation_window(splits.summary)  # before any trial trains
    return _TuneData(splits, names, vector), data_fingerprint(splits.summary, names, vector)


def _run_trials(trials: JournaledTrials, data: _TuneData, cfg: TuneSection, tracker):
    """Every trial's record, reused from the journal or trained (and journaled), each one
    recorded by the tracker; a stop says what the journal kept."""
    records, n = [], len(trials.points)
    try:
        with tracker.parent(f"tune-{trials.run}", {"method": cfg.method, "trials": n}):
            for i, (point, trial_config) in enumerate(
                zip(trials.points, trials.configs, strict=True)
            ):
                record = trials.reused_record(i)
                if record is None:
                    train = functools.partial(_trial, data, trial_config, i, point, n)
                    record = _journaled(trials.journal, trials.prints[i], i, point, train,
                                        data=trials.data)  # fmt: skip
                records.append(record)
                ap = record.get("validation", {}).get("average_precision")
                tracker.trial(i, point, {} if "error" in record
                              else {"validation_average_precision": ap})  # fmt: skip
    except (KeyboardInterrupt, Terminated):
        trials.stopped()
        raise
    return records


def _write_best(config: AppConfig, cfg: TuneSection, trials: JournaledTrials, records, *,
                replace: bool) -> dict[str, Any]:  # fmt: skip
    """The best trial's config (YAML) and the report (JSON) written; the report."""
    run, journal = trials.run, trials.journal
    best = _selectable(records, journal.path)
    failed = [t for t in records if "error" in t]
    report_path, output = outputs(config, cfg, run)
    content = best_config(config, best["params"])
    secrets = secret_settings(content)  # a config to run again keeps its credentials
    write_output(output, yaml.safe_dump(content, sort_keys=False), command="tune", run=run,
                 replace=replace, private=bool(secrets))  # fmt: skip
    if secrets:  # where, never what
        logger.info("tune: the best config %s holds credentials (%s), as the config does: it "
                    "is readable by its owner only (mode 0600)", output, ", ".join(secrets))  # fmt: skip
    report = {"run": run, "method": cfg.method, "selected_on": "validation average_precision",
              "trials": records, "failed": len(failed), "reused": trials.reused, "best": best,
              "best_config": str(output), "trials_journal": str(journal.path)}  # fmt: skip
    write_output(report_path, jsonout.dumps(report, indent=2, default=str), command="tune",
                 run=run, replace=replace)  # fmt: skip
    report["report_path"] = str(report_path)
    return report


def _selectable(records: list[dict[str, Any]], journal: Path) -> dict[str, Any]:
    """The best trial (select_best); an error when every trial failed or none has a
    defined validation AP."""
    best = select_best(records)
    failed = [t for t in records if "error" in t]
    if failed and len(failed) == len(records):
        raise TrainingError(
            f"tune: every trial failed ({len(records)} trial(s); trial {failed[0]['trial']}: "
            f"{failed[0]['error']}); no best config was written. Their errors are in "
            f"{journal}"
        )
    if best is None:
        raise EmptyInputError(
            f"tune: every trial's validation AP is {UNDEFINED} ({len(records)} trial(s)), so "
            "none can be selected; no best config was written. Give the validation window "
            "frauds and normals (splits.validation_days, splits.end) and run tune again"
        )
    return best


def _journaled(journal: TrialJournal, sha: str, i: int, point: dict[str, Any], train, *,
               data: str | None = None):  # fmt: skip
    """`train()` (a `_trial`), its record appended to the journal; a bug (not a
    `trial_failure`) is recorded with its error too (a re-run trains that trial again), then
    raised."""
    t0 = time.monotonic()
    try:
        record = train()
    except Exception as exc:  # not a trial failure (_trial records those): ours to fix
        journal.append({"trial": i, "params": point, "error": error_line(exc), "bug": True,
                        "seconds": round(time.monotonic() - t0, 1), "config_sha256": sha,
                        "data_sha256": data})  # fmt: skip
        raise
    journal.append({**record, "config_sha256": sha, "data_sha256": data})
    return record


def trial_failure(exc: BaseException) -> bool:
    """Whether `exc` ends one trial, recorded while the tune goes on, rather than being a bug
    of our own code (a TypeError, an AttributeError, ...), which stops the tune with its
    traceback. A trial failure is a fraud_app or dlcore error (a setting the data or the
    trainer refuses, training that diverged, a lost peer), memory running out, or a Spark
    job that failed in the JVM (a lost executor, a task out of memory). Not one: a Python
    error a task raised, unless it is a fraud_app or dlcore error; a query Spark could not
    analyse (a plan our code built wrong); pyspark's own argument errors on the driver."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException, PythonException
    from pyspark.errors.exceptions.captured import CapturedException

    if isinstance(exc, FraudAppError | DlcoreError | MemoryError):
        return True
    if not isinstance(exc, Py4JJavaError | CapturedException):
        return False
    text = str(exc)
    if isinstance(exc, PythonException) or "org.apache.spark.api.python.PythonException" in text:
        return _OUR_ERROR_IN_A_TASK.search(text) is not None or "MemoryError" in text
    return not isinstance(exc, AnalysisException)


_OUR_ERROR_IN_A_TASK = re.compile(r"\b(?:fraud_app|dlcore)\.errors\.\w+: ")


def error_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _trial(data: _TuneData, trial_config, i, point, n) -> dict[str, Any]:
    """Train and score one trial; a trial that fails (`trial_failure`: diverged, a setting
    the data refuses, out of memory, a lost executor) is its record with the `error`, and
    the other trials go on; anything else (a bug) is raised."""
    t0 = time.monotonic()
    try:
        splits = data.splits
        balanced = nodes.balance(splits.train, trial_config.balancing)
        window = nodes.TrainWindow(splits.train, data.names, data.vector)
        fitted = nodes.fit_ensemble(balanced, window, trial_config.training,
                                    validation_df=splits.validation)  # fmt: skip
        with released():  # the scoring broadcast's file goes with the trial
            metrics = nodes.evaluate(
                nodes.score(splits.validation, fitted.ensemble, features_col=data.vector)
            )
    except Exception as exc:
        if not trial_failure(exc):
            raise
        error = error_line(exc)
        logger.debug("tune trial %d failed", i, exc_info=True)
        logger.warning("tune trial %d/%d %s failed (%s); the other trials go on", i + 1, n,
                       point, error)  # fmt: skip
        return {"trial": i, "params": point, "error": error,
                "seconds": round(time.monotonic() - t0, 1)}  # fmt: skip
    logger.info("tune trial %d/%d %s: validation AP %s", i + 1, n, point,
                format_ap(metrics["average_precision"]))  # fmt: skip
    return {
        "trial": i,
        "params": point,
        "validation": metrics,
        "best_iterations": [r.best_iteration for r in fitted.results],
        "seconds": round(time.monotonic() - t0, 1),
    }


UNDEFINED = "undefined (no frauds in validation)"


def defined(ap) -> bool:
    """Whether a validation AP is a number (not NaN or None: a window without frauds)."""
    return isinstance(ap, int | float) and math.isfinite(ap)


def format_ap(ap) -> str:
    """A trial's validation AP for a person: 4 decimals, or why there is none (it printed
    `nan`)."""
    return f"{ap:.4f}" if defined(ap) else UNDEFINED


def select_best(trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trial of the highest defined validation AP (the first of equals); None when no
    trial's AP is defined. An undefined AP never wins over a defined one."""
    scored = [t for t in trials if defined(t.get("validation", {}).get("average_precision"))]
    return max(scored, key=lambda t: t["validation"]["average_precision"], default=None)


def check_validation_window(summary: dict[str, Any]) -> None:
    """Tune selects on validation AP: a validation window without frauds (or of frauds
    only) makes it undefined for every trial. Said before any trial trains (every trial
    trained and printed `nan`, and the first was written as the best config)."""
    w = summary["windows"]["validation"]
    rows, frauds = w["rows"], w["frauds"]
    if 0 < frauds < rows:
        return
    what = "no fraud (label = 1)" if frauds == 0 else "only frauds (no label = 0 row)"
    raise EmptyInputError(
        f"tune: the validation window {w['start']} .. {w['end']} ({rows:,} rows) holds {what}, "
        "so the validation AP that tune selects on is undefined for every trial; nothing was "
        "trained. Give it a window with frauds and normals: more splits.validation_days or "
        f"another splits.end (the train window holds {summary['windows']['train']['frauds']:,} "
        "frauds)"
    )
