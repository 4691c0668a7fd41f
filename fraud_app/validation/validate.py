"""Notebook/CLI entry points: validate the canonical table or a feature table.

Each builds its suite (fraud_app.validation.suites), runs it with Great Expectations
(runner), saves JSON + HTML under `paths.reports` and, when `validation.fail_on_error`
is set, raises ValidationFailedError naming the failed checks, columns and example
failing ids. Reports are written before raising, so the user can open them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession

from fraud_app.config import AppConfig
from fraud_app.errors import SchemaError
from fraud_app.schema import OPTIONAL_COLUMNS, PARTITION_COLUMN, REQUIRED_COLUMNS
from fraud_app.spark.arguments import require_config, require_dataframe, require_session
from fraud_app.spark.session import utc_session
from fraud_app.timeline import describe_days, thin_days
from fraud_app.validation.label_age import lagging_labels
from fraud_app.validation.report import ValidationReport, describe
from fraud_app.validation.runner import CheckResult, run_checks, utc_time
from fraud_app.validation.suites import (
    DAY_VOLUME,
    OWN_CHECKS,
    PARTITION_DATE,
    Check,
    canonical_checks,
    feature_checks,
)

logger = logging.getLogger(__name__)


@utc_session
def validate_canonical(
    spark: SparkSession,
    df: DataFrame,
    cfg: AppConfig,
    *,
    table: str = "canonical",
    run_name: str | None = None,
) -> ValidationReport:
    """Check `df` (canonical schema) against `validation.canonical`. The report is saved
    as `<paths.reports>/canonical_validation-<run_name or UTC time>.json/.html`.
    SchemaError, before any check, when `df` looks like a feature table."""
    require_dataframe(df, "validate_canonical")
    require_config(cfg, "validate_canonical", "cfg")
    require_table_kind(df, "canonical", cfg, table)
    mapped = tuple(c for c in OPTIONAL_COLUMNS if c in cfg.etl.columns)
    checks = canonical_checks(cfg.validation.canonical, mapped=mapped)
    report = _validate(
        df, checks, ("canonical", "transaction_id"), cfg, table, run_name, own=_by_date
    )
    _warn_lagging_labels(df, cfg)
    return report


def _warn_lagging_labels(df: DataFrame, cfg: AppConfig) -> None:
    """One WARNING when unlabelled rows are older than the label delay + grace
    (fraud_app.validation.label_age); `now` is validation.canonical.reference_time, as for
    the freshness check, else the wall clock (UTC)."""
    checks = cfg.validation.canonical
    now = checks.reference_time or dt.datetime.now(dt.UTC)
    now = now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now
    line = lagging_labels(df, cfg.features.label_delay_days, checks.unlabelled_grace_days, now)
    if line:
        logger.warning("%s", line)


@utc_session  # as validate_canonical: example times shown in UTC
def validate_features(
    spark: SparkSession,
    df: DataFrame,
    cfg: AppConfig,
    *,
    table: str = "features",
    run_name: str | None = None,
) -> ValidationReport:
    """Check a feature table: numeric columns non-null and finite, configured ranges, each
    row in its day's partition (event_date:matches_timestamp, when it has both columns).
    SchemaError, before any check, when `df` holds none of the specs' features (nor the
    vector column): e.g. the canonical table, whose numeric columns the suite would pass."""
    require_session(spark, "validate_features")
    require_dataframe(df, "validate_features")
    require_config(cfg, "validate_features", "cfg")
    names = require_table_kind(df, "features", cfg, table)
    fc = cfg.validation.features
    checks = feature_checks(dict(df.dtypes), fc, names)
    return _validate(df, checks, ("features", fc.key_column), cfg, table, run_name, own=_by_date)


def require_table_kind(df: DataFrame, kind: str, cfg: AppConfig, table: str) -> list[str]:
    """SchemaError when `df` is not the kind of table (`canonical` | `features`) the suite
    checks: the feature suite checks whatever numeric columns it finds, so the canonical
    table passed it (and the canonical suite's failures did not say why). Returns the
    feature specs' names (none for a canonical table)."""
    from fraud_app.features.pipeline import feature_set_from_config

    columns = set(df.columns)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    # A canonical table is judged by its own columns: the feature specs are read only for
    # the other cases, so specs that do not parse cannot stop the canonical validation.
    if kind == "canonical" and not missing:
        return []
    names = [f.name for f in feature_set_from_config(cfg.features).features]
    vector = cfg.features.vector_column
    looks_features = bool(columns & set(names)) or (vector is not None and vector in columns)
    if kind == "canonical":
        hint = (
            "; it looks like the feature table: use --table features (validate_features)"
            if looks_features
            else ""
        )
        raise SchemaError(
            f"{table} is not a canonical table: it lacks required column(s) {missing}{hint} "
            "(or check the table `fraud-app etl` writes, e.g. with --input)"
        )
    if kind == "features" and not looks_features:
        hint = (
            "; it looks like the canonical table: use --table canonical (validate_canonical)"
            if not missing
            else ""
        )
        raise SchemaError(
            f"{table} is not a feature table: it holds none of the {len(names)} features of "
            f"the feature specs (e.g. {names[:3]})"
            + (f" nor the vector column {vector!r}" if vector else "")
            + f"{hint} (or check the table `fraud-app features` writes, e.g. with --input)"
        )
    return names


def _by_date(df: DataFrame, checks: list[Check], examples: int) -> list[CheckResult]:
    """The checks of the rows per event_date (suites.OWN_CHECKS), from ONE aggregation of
    `df`: by event_date when the volume check needs the rows per date (the rows whose
    event_date is not the UTC date of their timestamp counted beside them), else a global
    count of those rows (no shuffle: the feature suite's check). Queries for the dates and
    example rows of misplaced rows only when there are some."""
    from pyspark.sql import functions as F

    volume = next((c for c in checks if c.expectation == DAY_VOLUME), None)
    partition = next((c for c in checks if c.expectation == PARTITION_DATE), None)
    ratio = float(volume.kwargs["ratio"]) if volume else 0.0
    check_dates = partition is not None and PARTITION_COLUMN in df.columns
    # to_date reads the session's zone: both suites' steps run under utc_session, so it is
    # the UTC date the ETL and the feature build partition by (a notebook's session set to
    # America/New_York gave a row at 02:00 UTC the day before: review49c)
    misplaced = ~F.col(PARTITION_COLUMN).cast("date").eqNullSafe(F.to_date("timestamp"))
    bad = F.sum(F.when(misplaced, 1).otherwise(0)).alias("bad")
    counts: dict[dt.date, int] = {}
    wrong: dict[dt.date | None, int] = {}
    if ratio > 0:
        day = F.col(PARTITION_COLUMN) if PARTITION_COLUMN in df.columns else F.to_date("timestamp")
        aggs = [F.count(F.lit(1)).alias("n"), *([bad] if check_dates else [])]
        for r in df.groupBy(day.alias("d")).agg(*aggs).collect():
            if r["d"] is not None:
                counts[r["d"]] = r["n"]
            if check_dates and r["bad"]:
                wrong[r["d"]] = r["bad"]
    elif check_dates and df.agg(bad).first()["bad"]:
        by_day = df.where(misplaced).groupBy(F.col(PARTITION_COLUMN).alias("d")).count()
        wrong = {r["d"]: r["count"] for r in by_day.collect()}
    out = []
    if volume is not None:
        out.append(_day_volume(volume, counts, ratio))
    if partition is not None:
        out.append(_partition_dates(df, partition, check_dates, wrong, misplaced, examples))
    return out


def _partition_dates(
    df: DataFrame, check: Check, has_date: bool, wrong: dict, misplaced, examples: int
) -> CheckResult:
    """`event_date:matches_timestamp`: the rows whose event_date is not the UTC date of
    their timestamp (a row in another day's partition: every read of its day by partition
    misses it, and a read of the day it sits in counts it there)."""
    n = sum(wrong.values())
    if not has_date:
        observed = f"no {PARTITION_COLUMN} column: not checked"
    elif not n:
        observed = "every row in the partition of its timestamp's UTC date"
    else:
        where = ", ".join(f"{d or 'null'} ({k})" for d, k in sorted(wrong.items(), key=str)[:5])
        more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
        observed = f"{n} row(s) in the partition of another date than their timestamp's: {PARTITION_COLUMN} {where}{more}"
    shown: tuple = ()
    if n and examples > 0:
        keep = [c for c in ("transaction_id", PARTITION_COLUMN, "timestamp") if c in df.columns]
        rows = df.filter(misplaced).select(*keep).limit(examples).collect()
        shown = tuple(_example(r.asDict()) for r in rows)
    return CheckResult(
        name=check.name, expectation=check.expectation, column=check.column,
        severity=check.severity, success=n == 0, observed=observed,
        unexpected_count=n if has_date else None, examples=shown,
        expected=check.expected, setting=check.setting,
    )  # fmt: skip


def _example(row: dict) -> dict:
    """A failing row as the reports show it: dates and times as UTC text."""
    return {k: str(utc_time(v)) if isinstance(v, dt.date) else v for k, v in row.items()}


def _day_volume(check: Check, counts: dict[dt.date, int], ratio: float) -> CheckResult:
    """`event_date:volume` (fraud_app.timeline): the dates between the table's first and
    last with fewer rows than the ratio x their usual volume, none at all included. A date
    with no rows was not counted by any check: an outage or a lost delivery passed, and
    undercounted the window features of the days after it without a word."""
    thin = thin_days(counts, ratio)
    held = [d for d, n in counts.items() if n]
    span = (max(held) - min(held)).days + 1 if held else 0
    observed = (
        f"{len(thin)} incomplete date(s) of {span}: {describe_days(thin)}"
        if thin
        else ("not checked (ratio 0)" if ratio <= 0 else f"{span} date(s), none incomplete")
    )
    return CheckResult(
        name=check.name, expectation=check.expectation, column=check.column,
        severity=check.severity, success=not thin, observed=observed,
        expected=check.expected, setting=check.setting,
    )  # fmt: skip


def _validate(
    df: DataFrame,
    checks: list[Check],
    suite_key: tuple[str, str | None],
    cfg: AppConfig,
    table: str,
    run_name: str | None,
    own: Callable[[DataFrame, list[Check], int], list[CheckResult]] | None = None,
) -> ValidationReport:
    """`own`: runs the checks that are not Great Expectations ones (suites.OWN_CHECKS)."""
    suite, key = suite_key
    checked_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    gx = [c for c in checks if c.expectation not in OWN_CHECKS]
    done = {r.name: r for r in run_checks(df, gx, suite, key, cfg.validation.examples)}
    mine = [c for c in checks if c.expectation in OWN_CHECKS]
    if own is not None and mine:
        done.update((r.name, r) for r in own(df, mine, cfg.validation.examples))
    results = [done[c.name] for c in checks if c.name in done]
    report = ValidationReport(suite, table, checked_at, tuple(results))
    report = report.save(cfg.paths.local("reports"), run_name)
    for r in report.warnings:
        logger.warning("validation warning: %s", describe(r))
    if not cfg.validation.fail_on_error:  # not raised below: each named here, not only counted
        for r in report.errors:
            logger.warning("validation error (not failing: validation.fail_on_error is false, "
                           "or --no-fail): %s", describe(r))  # fmt: skip
    logger.info(
        "%s validation of %s: %d checks, %d errors, %d warnings; report %s",
        suite, table, len(results), len(report.errors), len(report.warnings), report.html_path,
    )  # fmt: skip
    if cfg.validation.fail_on_error:
        report.raise_for_errors()
    return report
