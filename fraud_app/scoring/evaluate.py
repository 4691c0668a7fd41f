"""`fraud-app evaluate`: a model on any window of the feature table -> evaluation JSON (C4).

Scores the window on the executors (the batch scoring path) into a persisted frame of
label, score, card, date and fraud pattern, counts it per date (fraud_app.evaluation.
spark_window.census), and computes the figures: a window within `fits_on_driver` (250,000
rows) collected, with fraud_app.scoring.evaluation; a larger one on the executors
(fraud_app.evaluation.spark_window: the same numbers, the driver receiving per-date and
per-partition sums). The window is start..end, both dates inclusive.

The report is `<paths.reports>/evaluation-<name>.json`. An existing report of that name
is never overwritten silently: ReportExistsError naming the file (checked before Spark
starts and again when writing, which creates the file exclusively), unless `replace`
(then it is replaced atomically). A name left out is the UTC time to the second, with
`-2`, `-3`, ... when that name is taken, as for training runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app import jsonout
from fraud_app.errors import (
    ConcurrentRunError,
    ConfigError,
    EmptyInputError,
    ReportExistsError,
    SchemaError,
)
from fraud_app.etl.readers import reads
from fraud_app.evaluation.spark_ranking import WindowColumns, with_row_order
from fraud_app.evaluation.spark_window import Census, census, fits_on_driver, window_report
from fraud_app.features.compile import vector_sql
from fraud_app.features.spec import table_definitions
from fraud_app.features.table import read_feature_metadata, read_feature_table
from fraud_app.models.provenance import seen_in_training, undated_refit, undated_refit_words
from fraud_app.naming import MAX_SUFFIX, check_name, stamped_names, utc_stamp
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.batch import score_dataframe
from fraud_app.scoring.dates import (
    MAX_LISTED_DATES,
    as_date,
    date_literal,
    dates_without_rows,
    warn_dates_without_rows,
)
from fraud_app.scoring.evaluation import CollectedWindow, FigureRequest, window_report_of
from fraud_app.scoring.model_source import (
    check_definitions,
    check_feature_names,
    load_scoring_model,
)
from fraud_app.scoring.tasks import task_errors
from fraud_app.spark.broadcasts import released
from fraud_app.spark.connect import FILE_SYSTEM, classic_only
from fraud_app.spark.session import utc_session
from fraud_app.timeline import describe_days, read_by

logger = logging.getLogger(__name__)


def _feature_table(spark, config):
    path = config.feature_table()
    df, names = read_feature_table(spark, path, config.canonical_table())
    return df, names, path


def collect_window(scored, columns: list[str]) -> dict[str, np.ndarray]:
    table = scored.select(*columns).toArrow()
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}


def window_figures(
    data: dict[str, np.ndarray], config, threshold: float | None = None
) -> dict[str, Any]:
    """C4 figures of collected arrays (label, fraud_score, event_date, [card_id, fraud_pattern]);
    `threshold`: the model's stored alert threshold (its `model_threshold` figures)."""
    window = CollectedWindow(
        labels=data["label"].astype(np.float64),
        scores=data["fraud_score"].astype(np.float64),
        days=data[PARTITION_COLUMN].astype(str),
        cards=data.get("card_id"),
        patterns=data.get("fraud_pattern"),
    )
    return window_report_of(window, FigureRequest.of(config.scoring, threshold))


def check_request(
    start: dt.date, end: dt.date, name: str | None, config=None, *, replace: bool = False
) -> None:
    """ConfigError for an empty window (start..end, both inclusive) or a name that cannot be
    part of a file name; ReportExistsError when `config` is given and `name`'s report
    exists and `replace` is not set. The CLI calls it before Spark starts."""
    if name is not None:
        check_name(name, "evaluation name")
    if end < start:
        raise ConfigError(f"empty window: end {end} is before start {start} (both inclusive)")
    if name is not None and config is not None and not replace:
        path = evaluation_path(config, name)
        if path.exists():
            raise _exists(name, path)


def evaluation_path(config, name: str) -> Path:
    return config.paths.local("reports") / f"evaluation-{name}.json"


def _exists(name: str, path: Path) -> ReportExistsError:
    return ReportExistsError(
        f"evaluation {name!r} already exists ({path}); evaluating again would replace it. "
        "Give a new --name (or leave --name out: a UTC timestamp), or pass --replace to "
        "replace it"
    )


def write_evaluation(
    report: dict[str, Any], config, name: str | None = None, *, replace: bool = False
) -> Path:
    """Write `report` as `name`'s evaluation JSON and return its path (see the module doc)."""
    text = jsonout.dumps(report, indent=2)
    reports = config.paths.local("reports")
    reports.mkdir(parents=True, exist_ok=True)
    if name is not None:
        path = evaluation_path(config, check_name(name, "evaluation name"))
        if replace:
            jsonout.write_atomic(path, text)
        elif not jsonout.write_new(path, text):
            raise _exists(name, path)
        return path
    stamp = utc_stamp()
    for candidate in stamped_names(stamp):
        path = evaluation_path(config, candidate)
        if jsonout.write_new(path, text):
            return path
    raise ConcurrentRunError(
        f"no free evaluation name {stamp}-2 .. -{MAX_SUFFIX} in {reports}; pass --name NAME"
    )


@dataclass(frozen=True, eq=False)
class _Window:
    """The rows one evaluation reads: the feature table at `path` (the whole table, and its
    metadata) dated start..end, both inclusive."""

    table: DataFrame
    path: str
    metadata: dict[str, Any]
    start: dt.date
    end: dt.date

    def rows(self) -> DataFrame:
        day = F.col(PARTITION_COLUMN)
        return self.table.where(day.between(date_literal(self.start), date_literal(self.end)))


@dataclass(frozen=True, eq=False)
class _Figures:
    counted: Census  # the window's rows per date
    unlabelled: int  # rows without a label yet (left out of the figures)
    figures: dict[str, Any]  # C4's figures (window_report_of's keys)


@classic_only("run_evaluation", FILE_SYSTEM)
@utc_session
@reads("features", "evaluate")
def run_evaluation(
    spark,
    config,
    *,
    model_uri: str,
    start: dt.date,
    end: dt.date,
    name: str | None = None,
    replace: bool = False,
) -> tuple[dict[str, Any], Path]:
    start, end = as_date(start, "start"), as_date(end, "end")
    check_request(start, end, name, config, replace=replace)
    model = load_scoring_model(model_uri, config)
    window = _checked_window(spark, config, model, start, end)
    found = _window_figures(spark, config, model, window)
    notes = _window_notes(model_uri, model, window, found.counted)  # their WARNINGs first
    thin = _incomplete_history(window)
    report = {
        "model_uri": model_uri,
        "model_name": model.name,
        "model_version": model.version,
        "window": {"start": str(start), "end": str(end)},
        **notes,
        "unlabelled_rows": found.unlabelled,
        "incomplete_history_dates": [t.to_dict() for t in thin],
        **found.figures,
    }
    out = write_evaluation(report, config, name, replace=replace)
    _log_to_tracking(report, out, config)
    return report, out


def _checked_window(spark, config, model, start: dt.date, end: dt.date) -> _Window:
    """The feature table, once it holds the model's features, by name (extra columns are
    not read) and by definition, and the columns evaluate reads."""
    df, table_names, path = _feature_table(spark, config)
    names = model.ensemble.feature_names
    check_feature_names(names, table_names, extra_ok=True, table=path)  # by name: extras unread
    metadata = read_feature_metadata(path, spark)
    check_definitions(  # a spec changed under the same name, the table rebuilt from it
        model,
        lambda stored: table_definitions(metadata, stored),
        lambda n: (
            f"the feature table {path} computes {n} of the model's features with another "
            "definition than the model was trained on"
        ),
        "Evaluate on a feature table built with the model's specs, or retrain the model on these",
    )
    _require_columns(df, names, path)
    return _Window(df, path, metadata, start, end)


def _window_figures(spark, config, model, window: _Window) -> _Figures:
    """The window scored once (persisted while each figure reads it), counted per date
    and its figures computed: collected on the driver when small, else on the executors."""
    df, path, start, end = window.table, window.path, window.start, window.end
    wanted = [c for c in ("label", "card_id", "fraud_pattern", PARTITION_COLUMN) if c in df.columns]
    with released():  # the scoring broadcast's file goes with the figures
        rows = _scored_rows(window, model, wanted)
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)  # scored once, read by each figure
        try:
            cols = WindowColumns.of(wanted)
            with task_errors():
                counted = census(rows, cols)
            if not counted.rows:
                raise _empty_window(df, path, start, end)
            unlabelled = check_labels(counted, path, start, end)
            request = FigureRequest.of(config.scoring, _stored_threshold(model.ensemble))
            with task_errors():
                if fits_on_driver(spark, counted.labelled):  # the same figures, sooner
                    labelled = rows.where(F.col("label").isNotNull())
                    data = collect_window(labelled, [*wanted, "fraud_score"])
                    figures = window_figures(data, config, request.threshold)
                else:
                    figures = window_report(rows, cols, counted, request)
        finally:
            rows.unpersist()
    return _Figures(counted, unlabelled, figures)


def _scored_rows(window: _Window, model, wanted: list[str]) -> DataFrame:
    """The window's `wanted` columns (the label as a number) and fraud_score, each row
    with its position (the order the collect has)."""
    columns = [_label_number().alias(c) if c == "label" else c for c in wanted]
    vector = vector_sql(model.ensemble.feature_names).alias("features")
    scored = score_dataframe(window.rows().select(*columns, vector), model.ensemble)
    return with_row_order(scored.select(*wanted, "fraud_score"))


def _window_notes(model_uri: str, model, window: _Window, counted: Census) -> dict[str, Any]:
    """The report's notes on the window's dates, each with its WARNING: the dates without
    rows and the dates the model may have trained on (`trained_on`)."""
    start, end = window.start, window.end
    present = [str(d) for d in counted.dates]
    empty = dates_without_rows(start, end, present, limit=MAX_LISTED_DATES)
    missing = (end - start).days + 1 - len(present)
    table = f"the feature table {window.path}"
    warn_dates_without_rows("evaluate", start, end, empty, table, missing)
    # between the window's first and last dates with rows: a window reaching before the data
    # counted every empty date since its start as one the model may have trained on
    # (`--start 0001-01-01`: 738,933 days of a model trained from 2024-01-01)
    held = sorted(dt.date.fromisoformat(str(d)) for d in counted.dates if d is not None)
    seen = seen_in_training(model.ensemble.metadata, held[0], held[-1]) if held else None
    warn_seen_in_training(start, end, seen)
    if undated_refit(model.ensemble.metadata):
        seen = undated_training(model_uri, start, end)
    return {"trained_on": seen, "dates_without_rows": empty, "days_without_rows": missing}


def _incomplete_history(window: _Window) -> list:
    """The window's dates whose window features read incomplete dates (one WARNING)."""
    start, end = window.start, window.end
    thin = read_by(window.metadata.get("timeline"), start, end)
    if thin:
        logger.warning(
            "evaluate %s..%s: the window features of these dates read %d incomplete date(s) "
            "of the data (fraud_app.timeline): %s; their counts, sums and rates are lower "
            "than what happened, and so the figures are not those of complete data. Deliver "
            "the missing rows (`fraud-app etl`, etl.mode: append), run `fraud-app features` "
            "and evaluate again", start, end, len(thin), describe_days(thin),
        )  # fmt: skip
    return thin


def _empty_window(df, path, start: dt.date, end: dt.date) -> EmptyInputError:
    """The dates the table holds, and the step that adds more: the window was named alone
    ("pick a window inside it"), and a date appended to the canonical table since
    `features` ran looked like a date without transactions."""
    day = F.col(PARTITION_COLUMN)
    first, last = df.agg(F.min(day), F.max(day)).first()
    return EmptyInputError(
        f"no rows dated {start}..{end} in the feature table {path} (it holds {first}..{last}): "
        "pick a window inside it, or run `fraud-app features` if the canonical table has "
        "received those dates since"
    )


def warn_seen_in_training(start: dt.date, end: dt.date, seen: dict | None) -> None:
    if seen is None:
        return
    since = f"from {seen['trained_from']} " if seen["trained_from"] else ""
    logger.warning(
        "evaluate %s..%s: the model trained on labelled rows %suntil %s (exclusive), so %d "
        "date(s) of the window, %s..%s, may be rows it learnt: its figures are optimistic "
        "there. Evaluate dates it did not train on for an honest estimate (`trained_on` in "
        "the report)",
        start, end, since, seen["trained_through"], seen["days"], seen["first"], seen["last"],
    )  # fmt: skip


def undated_training(model_uri: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    """`trained_on` of a model refit on its validation window that does not record the dates
    (saved before session 18): the dates are unknown, said in the report and one WARNING
    (it was null, as for a model that trained on none of the window's dates)."""
    why = undated_refit_words(f"model {model_uri}")
    logger.warning(
        "evaluate %s..%s: %s; whether it trained on this window's rows is not known, so its "
        "figures may be optimistic. Evaluate it on dates after the data it was trained on, or "
        "retrain with this release (its models record trained_through)",
        start, end, why,
    )  # fmt: skip
    return {
        "first": None, "last": None, "days": None, "trained_from": None,
        "trained_through": None, "unknown": why,
    }  # fmt: skip


def _stored_threshold(ensemble) -> float | None:
    meta = ensemble.metadata.get("scoring")
    value = meta.get("threshold") if isinstance(meta, dict) else None
    return None if value is None else float(value)


def _require_columns(df, names: list[str], path) -> None:
    """The columns evaluate reads: a table that lacks one (a copy without labels, a damaged
    or hand-made folder) failed with a KeyError or Spark's unresolved-column error."""
    missing = [c for c in ("label", PARTITION_COLUMN, *names) if c not in df.columns]
    if missing:
        raise SchemaError(
            f"the feature table {path} lacks column(s) {missing} that evaluate reads (the "
            "label, the date and the model's features); evaluate needs a labelled table "
            "written by `fraud-app features`"
        )


def check_labels(counted: Census, path, start: dt.date, end: dt.date) -> int:
    """How many rows of the window have no label yet (left out of the figures): a null label
    is not known yet (etl.allow_unlabelled), never a 0. EmptyInputError when no label of
    the window is known; SchemaError for a label other than 0, 1 or null."""
    n = counted.unlabelled
    if n == counted.rows:
        raise EmptyInputError(
            f"none of the {n} rows dated {start}..{end} in the feature table {path} has a "
            "label yet (label null: not known yet); evaluate a window whose labels are known"
        )
    if n:
        # a WARNING, not INFO (session 54): the figures are those of the labelled rows, and
        # labels do not arrive at random (chargebacks before normals settle), so they were
        # far from the window's own without a visible word (docs/PROBES.md, session 54)
        logger.warning(
            "evaluate: %d of the %d rows dated %s..%s have no label yet (label null) and are "
            "left out of the figures (%.1f%% of the window): every figure is that of the "
            "labelled rows only, and each day's alert budget ranks and counts them only (its "
            "quota is ceil(budget x the day's labelled rows), not the rows a team reviews). "
            "Where the labels known so far are mostly frauds (chargebacks come before normals "
            "settle), AP and precision read higher and recall at a budget lower than the "
            "window's own: evaluate a window whose labels are all known for figures "
            "comparable with training's",
            n, counted.rows, start, end, 100.0 * n / counted.rows,
        )  # fmt: skip
    if counted.bad_labels:  # a 2 counted as two frauds
        first = counted.first_bad
        example = "text that is not a number" if first == NOT_A_NUMBER else repr(first)
        raise SchemaError(
            f"the feature table {path}: label must be 0 or 1, but {counted.bad_labels} of the "
            f"{counted.labelled} rows dated {start}..{end} hold another value (e.g. {example}); "
            "fix the labels or pick a window whose labels are known"
        )
    return n


NOT_A_NUMBER = float("-inf")  # a label that is set but no number (hand-made tables)


def _label_number():
    """The label as a double: null stays null (not known yet), a value that is no number
    becomes NOT_A_NUMBER, so that it is named, not taken for an unknown label."""
    label = F.col("label")
    return F.when(label.isNotNull(), F.coalesce(label.try_cast("double"), F.lit(NOT_A_NUMBER)))


def _log_to_tracking(report: dict[str, Any], path: Path, config) -> None:
    """One MLflow run per evaluation (fraud_app.tracking.jobs; nothing with tracking off)."""
    from fraud_app.tracking import log_evaluation

    log_evaluation(report, path, config)
