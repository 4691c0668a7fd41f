"""Rolling backtest: K folds of train / validation / gap / test, the ensemble and a GBT
baseline trained on each, ranking metrics per fold and mean +- std.

Per fold (fraud_app.evaluation.folds): the training rows are the train and validation
windows with their labels AS KNOWN AT THE FOLD'S CUT-OFF (the start of its test window):
a fraud confirmed later counts as not fraud yet. The ensemble trains exactly as
`fraud-app train` does (balancing, early stopping on validation, refit on train +
validation when configured); the baseline trains on the same rows as the final ensemble.
Every fold's report gives its configured `windows` and, in `covered`, the data each window
held (rows, first and last timestamp: a window past the data's end or before its start
holds less than configured). Every fold's report carries a leakage check computed from the rows actually used: no
training row's timestamp, and no label it uses, lies past the cut-off; and, as `train`
does, the constant and near-constant features of its train window (one warning each).

MLflow (tracking on): one parent run `backtest-<run>`, a nested run per fold, the summary
and the report (fraud_app.tracking.backtest, through `tracker_for`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import EmptyInputError, FraudAppError
from fraud_app.etl.readers import reads
from fraud_app.evaluation.baseline import baseline_scores, check_available, spark_gbt_scores
from fraud_app.evaluation.config import BacktestSection
from fraud_app.evaluation.folds import (
    Fold,
    check_fold_data,
    check_fold_dates,
    check_settled_labels,
    check_test_overlap,
    plan_folds,
)
from fraud_app.evaluation.ranking import fold_metrics
from fraud_app.evaluation.spark_folds import fold_census, fold_figures, fold_rows, with_scores
from fraud_app.evaluation.spark_window import fits_on_driver
from fraud_app.features.checks import constant_features
from fraud_app.features.labels import MICROS, label_known_at_micros, utc_micros_datetime
from fraud_app.features.splits import SplitResult, TimeWindow
from fraud_app.features.table import read_feature_metadata
from fraud_app.scoring.tasks import task_errors
from fraud_app.spark.broadcasts import released
from fraud_app.spark.connect import BARRIER, classic_only
from fraud_app.spark.session import utc_session
from pipelines.backtest.report import summary, warn_ties_over_budget
from pipelines.named_reports import pick_run, write_output
from pipelines.training import nodes
from pipelines.training.feature_input import read_features
from pipelines.training.members import refit_ensemble
from pipelines.training.run_names import drop_checkpoints

logger = logging.getLogger(__name__)


def report_path(config: AppConfig, run: str) -> Path:
    return config.paths.local("reports") / f"backtest-{run}.json"


def check_run(config: AppConfig, run: str | None, *, replace: bool = False) -> str:
    """The run name (pipelines.named_reports): a name whose report exists is refused
    unless `replace`; None: the first free UTC stamp. The CLI calls it before Spark starts."""
    return pick_run("backtest", run, lambda r: [report_path(config, r)], replace=replace)


@classic_only("run_backtest", BARRIER)  # before the session's settings and the reader mark
@utc_session
@reads("features", "backtest")
def run_backtest(
    spark,
    config: AppConfig,
    cfg: BacktestSection,
    *,
    run: str | None = None,
    replace: bool = False,
) -> dict[str, Any]:
    """Run every fold; write `<paths.reports>/backtest-<run>.json`; return the report. An
    existing report of `run` is refused (ReportExistsError) unless `replace`, which also
    removes the earlier run's refit checkpoints (`<paths.checkpoints>/backtest-<run>/`)."""
    run = check_run(config, run, replace=replace)
    if replace:
        shutil.rmtree(config.paths.local("checkpoints") / f"backtest-{run}", ignore_errors=True)
    features_path = config.feature_table()
    df, names = read_features(spark, config, "backtest")
    first, last = _data_span(df, features_path)
    delay_days = config.features.label_delay_days
    folds = plan_folds(cfg, label_delay_days=delay_days, data_end=last.date() + dt.timedelta(1))
    started = time.monotonic()
    _check_folds(folds, first, last, read_feature_metadata(features_path, spark).get("timeline"))
    training = config.training  # the refit (train + validation) runs after early stopping
    refit = training.refit.enabled and training.distributed.early_stopping is not None
    check_settled_labels(cfg, delay_days, refit=refit)
    check_available(cfg.baseline)
    tracker = tracker_for(config)
    backtest = _Backtest(config, cfg, df, names, config.features.vector_column or "features", run)
    report = _run_folds(backtest, folds, tracker, started)
    path = write_output(report_path(config, run), jsonout.dumps(report, indent=2, default=str),
                        command="backtest", run=run, replace=replace)  # fmt: skip
    drop_checkpoints(config, f"backtest-{run}")
    report["report_path"] = str(path)
    return report


def _data_span(df: DataFrame, features_path) -> tuple[dt.datetime, dt.datetime]:
    """The first and last timestamp of the feature table's rows (UTC); EmptyInputError
    when it holds none."""
    # microseconds: a collected timestamp comes in the Python process's local zone (an
    # analyst's laptop in Asia/Kolkata moved the data's last date, and every fold, a day)
    span = df.agg(F.min(F.unix_micros("timestamp")), F.max(F.unix_micros("timestamp"))).first()
    if span[1] is None:
        raise EmptyInputError(f"feature table {features_path} holds no rows")
    first, last = (utc_micros_datetime(us) for us in span)
    return first, last


def _check_folds(folds: list[Fold], first: dt.datetime, last: dt.datetime, timeline) -> None:
    """Every fold's windows within the data and its dates in the table's timeline, before
    any fold trains (the newest was checked after the others had trained)."""
    for fold in folds:
        check_fold_data(fold, first, last)
        check_fold_dates(fold, timeline)
    check_test_overlap(folds)


def _run_folds(backtest: _Backtest, folds: list[Fold], tracker, started: float) -> dict[str, Any]:
    """Run the folds in order inside the tracker's parent run; return the report (its
    summary logged to the tracker too)."""
    cfg, results = backtest.cfg, []
    with tracker.parent(f"backtest-{backtest.run}", cfg.model_dump(mode="json")):
        for fold in folds:
            results.append(_fold_or_named_error(backtest, fold))
            tracker.fold(results[-1])
        report = {
            "run": backtest.run,
            "config": cfg.model_dump(mode="json"),
            "label_delay_days": backtest.config.features.label_delay_days,
            "feature_names": backtest.names,
            "folds": results,
            "summary": summary(results),
            "seconds": round(time.monotonic() - started, 1),
        }
        tracker.summary(report)
    return report


class NullTracker:
    """The tracking hook's no-op form (tracking off): fraud_app.tracking.backtest's
    BacktestTracker logs a parent run, one nested run per fold and the summary."""

    @contextlib.contextmanager
    def parent(self, run_name: str, params: dict[str, Any]):
        yield self

    def fold(self, result: dict[str, Any]) -> None:
        return None

    def summary(self, report: dict[str, Any]) -> None:
        return None


def tracker_for(config: AppConfig):
    """An MLflow backtest tracker when tracking is on (imported lazily: this module never
    imports mlflow), else the no-op one."""
    from fraud_app.tracking.backtest import backtest_tracker

    return backtest_tracker(config) or NullTracker()


@dataclass(frozen=True)
class _Backtest:
    """What every fold of one backtest reads: the config and its `backtest` section, the
    feature table's labelled rows with their feature names and vector column, and the
    run's name (its refit checkpoints: `<paths.checkpoints>/backtest-<run>/fold-<i>`)."""

    config: AppConfig
    cfg: BacktestSection
    df: DataFrame
    names: list[str]
    vector: str
    run: str

    def checkpoints(self, fold: Fold) -> str:
        root = self.config.paths.local("checkpoints")
        return str(root / f"backtest-{self.run}" / f"fold-{fold.index}")


def _fold_or_named_error(backtest: _Backtest, fold: Fold) -> dict[str, Any]:
    try:
        return _run_fold(backtest, fold)
    except FraudAppError as exc:  # e.g. a train window without known frauds: name the fold
        if str(exc).startswith("backtest fold"):
            raise
        raise type(exc)(f"backtest fold {fold.index} ({_windows(fold)}): {exc}") from exc


def _windows(fold: Fold) -> str:
    def day(t):
        return "the first row" if t is None else f"{t:%Y-%m-%d}"

    (a, b), (c, d), (e, f) = fold.train, fold.validation, fold.test
    return (
        f"train {day(a)}..{day(b)}, validation {day(c)}..{day(d)}, test {day(e)}..{day(f)}, "
        f"labels as known at {fold.cutoff:%Y-%m-%d}"
    )


def _window(lo: dt.datetime | None, hi: dt.datetime):
    ts = F.col("timestamp")
    cond = ts < F.lit(hi)
    return cond if lo is None else cond & (ts >= F.lit(lo))


def known_labels(df: DataFrame, cutoff: dt.datetime, delay_s: int) -> DataFrame:
    """Labels as known at `cutoff`: a fraud whose label is not known strictly before it
    (the rule of fraud_app.features.labels, review53b) becomes 0."""
    known = label_known_at_micros(df, delay_s) < F.lit(int(cutoff.timestamp() * MICROS))
    label = F.when((F.col("label") == 1) & known, 1).otherwise(0)
    return df.withColumn("label", label.cast(df.schema["label"].dataType))


def _run_fold(backtest: _Backtest, fold: Fold) -> dict[str, Any]:
    config, names, vector = backtest.config, backtest.names, backtest.vector
    delay_s = round(config.features.label_delay_days * 86_400)
    t0 = time.monotonic()
    train = known_labels(backtest.df.where(_window(*fold.train)), fold.cutoff, delay_s)
    validation = known_labels(backtest.df.where(_window(*fold.validation)), fold.cutoff, delay_s)
    test = backtest.df.where(_window(*fold.test))
    covered = covered_windows(backtest.df, fold)
    splits = _split_result(fold, train, validation, test, covered)
    logger.info("backtest fold %d of %d: %s", fold.index, backtest.cfg.folds, _windows(fold))
    checks = constant_features(train, names, vector_column=vector, label_column="label",
                               rows=splits.summary["windows"]["train"]["rows"])  # fmt: skip
    balanced = nodes.balance(train, config.balancing)
    fitted = nodes.fit_ensemble(balanced, nodes.TrainWindow(train, names, vector),
                                config.training, validation_df=validation)  # fmt: skip
    refit, _ = refit_ensemble(config, splits, fitted, names, vector, backtest.checkpoints(fold))
    used = nodes.refit_data(splits) if refit else train
    models, rows, frauds = _test_metrics(backtest, fold, (refit or fitted).ensemble, used, test)
    warn_ties_over_budget(fold.index, models, backtest.cfg.alert_budget)
    return {
        "fold": fold.index,
        "windows": fold.to_dict(),  # as configured
        "covered": covered,  # the data each window held
        "leakage_check": leakage_check(used, fold.cutoff, delay_s),
        "feature_checks": checks,  # constant / near-constant in the fold's train window
        "test_rows": rows,
        "test_frauds": frauds,
        "best_iterations": [r.best_iteration for r in fitted.results],
        "refit": refit is not None,
        "models": models,
        "seconds": round(time.monotonic() - t0, 1),
    }


def _test_metrics(backtest: _Backtest, fold: Fold, ensemble, used, test):
    """(figures per model, rows, frauds) of the fold's test window scored by `ensemble`
    and, unless `baseline: none`, the baseline trained on `used`."""
    with released():  # the scoring broadcast's file goes with the fold
        scored = nodes.score(test, ensemble, features_col=backtest.vector)
        if backtest.cfg.baseline == "xgboost":  # on the driver: the test window's rows go there
            return _driver_metrics(backtest, fold, scored, used, test)
        return _executor_metrics(backtest, fold, scored, used, test)


def _empty_test(fold: Fold) -> EmptyInputError:
    return EmptyInputError(
        f"backtest fold {fold.index}: the test window ({fold.test[0]:%Y-%m-%d %H:%M} .. "
        f"{fold.test[1]:%Y-%m-%d %H:%M}) has no rows"
    )


def _executor_metrics(backtest: _Backtest, fold: Fold, scored, used, test):
    """The fold's figures: a test window larger than `fits_on_driver` takes computed on the
    executors (fraud_app.evaluation.spark_folds: the driver receives per-day and
    per-partition sums, not its rows); a smaller one collected, the same figures sooner."""
    cfg, vector = backtest.cfg, backtest.vector
    rows = fold_rows(scored)
    try:
        with task_errors():
            seen = fold_census(rows)
        if not seen.rows:
            raise _empty_test(fold)
        if fits_on_driver(rows.sparkSession, seen.rows):  # the same figures, sooner
            return _collected_metrics(backtest, rows, used, test)
        models = {"ensemble": fold_figures(rows, seen, "fraud_score", budget=cfg.alert_budget,
                                           k=cfg.k)}  # fmt: skip
        if cfg.baseline == "gbt":
            scores = spark_gbt_scores(cfg.gbt, used, test, vector, backtest.config.training.seed)
            with_baseline = with_scores(rows, scores, "baseline")
            models["baseline"] = fold_figures(
                with_baseline, fold_census(with_baseline, "baseline"), "baseline",
                budget=cfg.alert_budget, k=cfg.k,
            )  # fmt: skip
    finally:
        rows.unpersist()
    return models, seen.rows, seen.frauds


def _collected_metrics(backtest: _Backtest, rows, used, test):
    """A small window's figures from its collected rows, in the rows' order."""
    cols = ["transaction_id", "card_id", "timestamp", "label", "fraud_score"]
    with task_errors():
        pdf = rows.select(*cols).toPandas()
    return _pdf_metrics(backtest, pdf, used, test)


def _driver_metrics(backtest: _Backtest, fold: Fold, scored, used, test):
    """The xgboost baseline predicts on the driver: the window is collected for it."""
    cols = ["transaction_id", "card_id", "timestamp", "label", "fraud_score", backtest.vector]
    pdf = scored.select(*cols).toPandas()
    if pdf.empty:
        raise _empty_test(fold)
    return _pdf_metrics(backtest, pdf, used, test)


def _pdf_metrics(backtest: _Backtest, pdf, used, test):
    """fold_metrics of the ensemble and (unless `baseline: none`) the baseline, on the
    collected test window; its rows and frauds."""
    cfg = backtest.cfg
    models = {"ensemble": fold_metrics(pdf, "fraud_score", budget=cfg.alert_budget, k=cfg.k)}
    if cfg.baseline != "none":
        pdf["baseline"] = baseline_scores(cfg.baseline, cfg.gbt, used, pdf, test,
                                          features_col=backtest.vector,
                                          seed=backtest.config.training.seed)  # fmt: skip
        models["baseline"] = fold_metrics(pdf, "baseline", budget=cfg.alert_budget, k=cfg.k)
    return models, len(pdf), int(pdf["label"].sum())


def covered_windows(df: DataFrame, fold: Fold) -> dict[str, dict[str, Any]]:
    """What each window of `fold` held of `df`: {train|validation|test: {rows, first,
    last}}, first / last the timestamps (UTC ISO) of its first and last row, None when it
    holds none. One Spark aggregation (it replaced the train and validation row counts, two
    jobs). The report's `windows` are the configured ones: a test window running past the
    data's end showed days without data as if scored (session 48 added a WARNING)."""
    us = F.unix_micros("timestamp")
    aggs = []
    for name, (lo, hi) in _named(fold):
        inside = _window(lo, hi)
        aggs += [
            F.count(F.when(inside, 1)).alias(f"{name}_rows"),
            F.min(F.when(inside, us)).alias(f"{name}_first"),
            F.max(F.when(inside, us)).alias(f"{name}_last"),
        ]
    row = df.where(_window(fold.train[0], fold.test[1])).agg(*aggs).first()

    def iso(micros):
        return None if micros is None else utc_micros_datetime(micros).isoformat()

    return {
        name: {"rows": int(row[f"{name}_rows"]), "first": iso(row[f"{name}_first"]),
               "last": iso(row[f"{name}_last"])}
        for name, _ in _named(fold)
    }  # fmt: skip


def _named(fold: Fold):
    return (("train", fold.train), ("validation", fold.validation), ("test", fold.test))


def _split_result(fold: Fold, train, validation, test, covered) -> SplitResult:
    windows = (
        TimeWindow("train", *fold.train),
        TimeWindow("validation", *fold.validation),
        TimeWindow("test", *fold.test),
    )
    counts = {name: covered[name]["rows"] for name in ("train", "validation")}
    summary = {
        "windows": {
            "train": {"start": fold.to_dict()["train_start"], "rows": counts["train"]},
            "validation": {"end": fold.to_dict()["validation_end"], "rows": counts["validation"]},
        }
    }
    return SplitResult(train, validation, test, windows, summary)


def leakage_check(used: DataFrame, cutoff: dt.datetime, delay_s: int) -> dict[str, Any]:
    """From the rows a fold trained on: the latest timestamp, the latest moment a label it
    counts as fraud became known, and the latest moment a 'not fraud' became settled
    (timestamp + label delay); the rows and the frauds' labels strictly before the
    cut-off, the settling at or before it."""
    known_at = label_known_at_micros(used, delay_s)
    row = used.agg(
        F.max(F.unix_micros("timestamp")).alias("ts"),
        F.max(F.when(F.col("label") == 1, known_at)).alias("fraud_known"),
        F.count(F.lit(1)).alias("rows"),
    ).first()
    cut = int(cutoff.timestamp() * MICROS)

    def iso(us):
        return None if us is None else utc_micros_datetime(us).isoformat()

    settled = None if row["ts"] is None else row["ts"] + delay_s * MICROS
    ok = (
        row["ts"] is not None
        and row["ts"] < cut
        and settled <= cut
        and (row["fraud_known"] is None or row["fraud_known"] < cut)
    )
    if not ok:
        logger.error("backtest leakage check FAILED at cut-off %s: %s", cutoff, row)
    return {
        "cutoff": cutoff.isoformat(),
        "rows": row["rows"],
        "max_timestamp": iso(row["ts"]),
        "max_fraud_label_known_at": iso(row["fraud_known"]),
        "max_label_settled_at": iso(settled),
        "ok": bool(ok),
    }
