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
from fraud_app.schema import REQUIRED_COLUMNS
from fraud_app.spark.arguments import require_config, require_dataframe, require_session
from fraud_app.spark.session import utc_session
from fraud_app.timeline import day_counts, describe_days, thin_days
from fraud_app.validation.label_age import lagging_labels
from fraud_app.validation.report import ValidationReport, describe
from fraud_app.validation.runner import CheckResult, run_checks
from fraud_app.validation.suites import DAY_VOLUME, Check, canonical_checks, feature_checks

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
    checks = canonical_checks(cfg.validation.canonical)
    report = _validate(
        df, checks, ("canonical", "transaction_id"), cfg, table, run_name, own=_day_volume
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


def validate_features(
    spark: SparkSession,
    df: DataFrame,
    cfg: AppConfig,
    *,
    table: str = "features",
    run_name: str | None = None,
) -> ValidationReport:
    """Check a feature table: numeric columns non-null and finite, configured ranges.
    SchemaError, before any check, when `df` holds none of the specs' features (nor the
    vector column): e.g. the canonical table, whose numeric columns the suite would pass."""
    require_session(spark, "validate_features")
    require_dataframe(df, "validate_features")
    require_config(cfg, "validate_features", "cfg")
    require_table_kind(df, "features", cfg, table)
    fc = cfg.validation.features
    checks = feature_checks(dict(df.dtypes), fc)
    return _validate(df, checks, ("features", fc.key_column), cfg, table, run_name)


def require_table_kind(df: DataFrame, kind: str, cfg: AppConfig, table: str) -> None:
    """SchemaError when `df` is not the kind of table (`canonical` | `features`) the suite
    checks: the feature suite checks whatever numeric columns it finds, so the canonical
    table passed it (and the canonical suite's failures did not say why)."""
    from fraud_app.features.pipeline import feature_set_from_config

    columns = set(df.columns)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    # A canonical table is judged by its own columns: the feature specs are read only for
    # the other cases, so specs that do not parse cannot stop the canonical validation.
    if kind == "canonical" and not missing:
        return
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


def _day_volume(df: DataFrame, check: Check) -> CheckResult:
    """`event_date:volume` (fraud_app.timeline): the dates between the table's first and
    last with fewer rows than the ratio x their usual volume, none at all included. A date
    with no rows was not counted by any check: an outage or a lost delivery passed, and
    undercounted the window features of the days after it without a word."""
    ratio = float(check.kwargs["ratio"])
    counts = day_counts(df) if ratio > 0 else {}
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
    own: Callable[[DataFrame, Check], CheckResult] | None = None,
) -> ValidationReport:
    """`own`: runs the checks that are not Great Expectations ones (suites.DAY_VOLUME)."""
    suite, key = suite_key
    checked_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    gx = [c for c in checks if c.expectation != DAY_VOLUME]
    done = {r.name: r for r in run_checks(df, gx, suite, key, cfg.validation.examples)}
    if own is not None:
        done.update((c.name, own(df, c)) for c in checks if c.expectation == DAY_VOLUME)
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
