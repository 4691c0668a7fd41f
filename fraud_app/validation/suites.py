"""What to check: suites as plain data (no Great Expectations import here).

A Check names one expectation with its arguments, the column it is about and a
severity. fraud_app.validation.runner turns Checks into GX expectations. Check
names ("amount:range") are stable: they key the severity overrides in the config
and the results in the reports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from fraud_app.config_base import name_unknown
from fraud_app.errors import ConfigError
from fraud_app.schema import (
    ALLOWED_CHANNELS,
    CANONICAL_COLUMNS,
    NOT_NULL_COLUMNS,
    OPTIONAL_COLUMNS,
    PARTITION_COLUMN,
)
from fraud_app.timeline import NEIGHBOURS
from fraud_app.validation.config import CanonicalChecks, FeatureChecks, Severity

DOUBLE_MAX = 1.7976931348623157e308  # between(-max, max) rejects NaN and +-inf in Spark
_SPARK_TYPE_NAMES = {
    "string": "StringType",
    "timestamp": "TimestampType",
    "double": "DoubleType",
    "int": "IntegerType",
}
NUMERIC_DTYPES = ("tinyint", "smallint", "int", "bigint", "float", "double")
# what a feature column may be (Spark's type classes, as GX names them): the vector the
# models read is these columns cast to float
_FEATURE_TYPES = ["ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType",
                  "DecimalType"]  # fmt: skip


def numeric(dtype: str) -> bool:
    """Whether a Spark dtype string (`DataFrame.dtypes`) is a number: `decimal(10,2)` too."""
    return dtype in NUMERIC_DTYPES or dtype.startswith("decimal")


@dataclass(frozen=True)
class Check:
    """`expected` says in words what passes; `setting` names the config key(s) that
    change it, so a failure message can say observed vs expected and what to change."""

    name: str
    expectation: str  # class name in great_expectations.expectations
    severity: Severity
    column: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    expected: str = ""
    setting: str = ""


_C = "validation.canonical"
# not Great Expectations classes: fraud_app.validation.validate runs them, both from one
# aggregation of the table by event_date (fraud_app.timeline)
DAY_VOLUME = "DailyRowCount"
PARTITION_DATE = "PartitionDateMatchesTimestamp"
OWN_CHECKS = frozenset({DAY_VOLUME, PARTITION_DATE})
# `mostly` of a not-all-null check: passes when any row holds a value (1 in 10^15 rows)
SOME_VALUE = 1e-15
# the optional columns whose not-all-null check the canonical suite holds: not label_time,
# null in every row in delay-only mode (an export without it, `generate.label_times: false`
# with configs/demo.yaml's mapping) and in a table none of whose labels is known yet, both
# states the app handles (labels known label_delay_days after the transaction)
VALUED_OPTIONAL = tuple(c for c in OPTIONAL_COLUMNS if c != "label_time")


def canonical_checks(
    cfg: CanonicalChecks, now: dt.datetime | None = None, mapped: tuple[str, ...] = ()
) -> list[Check]:
    """The canonical table's suite; `cfg.severities` overrides default severities.
    `mapped`: the canonical columns etl.columns maps; an optional one of them null in
    every row gets a warning (`<column>:not_all_null`). An optional column the export
    does not have is published null and is not checked (the feature build skips the
    features that read it)."""
    checks = _with_severities(
        _all_canonical_checks(cfg, now), cfg.severities, "validation.canonical.severities"
    )
    unmapped = {f"{c}:not_all_null" for c in VALUED_OPTIONAL if c not in mapped}
    return [c for c in checks if c.name not in unmapped]


def _all_canonical_checks(cfg: CanonicalChecks, now: dt.datetime | None) -> list[Check]:
    """Every check the canonical suite may hold (the not-all-null ones of every optional
    column): the names the severities may set."""
    ref = _reference_time(cfg, now)
    checks = [
        *_schema_checks(),
        Check("transaction_id:unique", "ExpectColumnValuesToBeUnique", "error", "transaction_id",
              expected="every transaction_id once", setting="etl (deduplicates)"),
        _amount_check(cfg),
        *_label_checks(cfg),
        _channel_check(),
        _freshness_check(cfg, ref),
        _label_time_check(),
        _volume_check(cfg),
        _partition_check(),
        *(_not_all_null(c, "warning", f"etl.columns.{c}") for c in VALUED_OPTIONAL),
    ]  # fmt: skip
    return checks


def _not_all_null(column: str, severity: Severity, setting: str) -> Check:
    """A column that may hold nulls but holds a value in at least one row: null in every
    row it carries no information (a source column mapped wrong, a join that matched
    nothing, a feature computed from nothing) and every check of its values passes."""
    return Check(
        f"{column}:not_all_null",
        "ExpectColumnValuesToNotBeNull",
        severity,
        column,
        {"mostly": SOME_VALUE},
        expected="a value in at least one row (nulls allowed, but a column null in every "
        "row carries no information)",
        setting=setting,
    )


def _partition_check() -> Check:
    """Each row in the partition of its own day: event_date the UTC date of timestamp."""
    return Check(
        f"{PARTITION_COLUMN}:matches_timestamp",
        PARTITION_DATE,
        "error",
        PARTITION_COLUMN,
        expected="event_date = the UTC date of timestamp (each row in the partition of its "
        "day: a row in another day's partition is missed by every read of its own day, "
        "and read with the wrong day's)",
        setting="etl (partitions by the UTC date of timestamp); a table written or moved by hand",
    )


def _reference_time(cfg: CanonicalChecks, now: dt.datetime | None) -> dt.datetime:
    """The time freshness is judged at (naive UTC): the configured one, else `now`, else now."""
    ref = cfg.reference_time or now or dt.datetime.now(dt.UTC)
    return ref.astimezone(dt.UTC).replace(tzinfo=None) if ref.tzinfo else ref


def _amount_check(cfg: CanonicalChecks) -> Check:
    return Check(
        "amount:range",
        "ExpectColumnValuesToBeBetween",
        "error",
        "amount",
        {"min_value": cfg.min_amount, "max_value": cfg.max_amount},
        expected=f"{cfg.min_amount:g} <= amount <= {cfg.max_amount:g}",
        setting=f"{_C}.min_amount / {_C}.max_amount",
    )


def _label_checks(cfg: CanonicalChecks) -> list[Check]:
    """The label's values (0, 1 or null) and the fraud rate of the labelled rows."""
    return [
        Check(
            "label:values", "ExpectColumnValuesToBeInSet", "error", "label", {"value_set": [0, 1]},
            expected="label 0 or 1 (null: not known yet)", setting="etl.columns.label",
        ),
        Check(
            "label:rate",
            "ExpectColumnMeanToBeBetween",
            "error",
            "label",
            {"min_value": cfg.label_rate_min, "max_value": cfg.label_rate_max},
            expected=f"fraud rate of the labelled rows in [{cfg.label_rate_min:g}, "
            f"{cfg.label_rate_max:g}]",
            setting=f"{_C}.label_rate_min / {_C}.label_rate_max",
        ),
    ]  # fmt: skip


def _channel_check() -> Check:
    return Check(
        "channel:allowed",
        "ExpectColumnValuesToBeInSet",
        "error",
        "channel",
        {"value_set": list(ALLOWED_CHANNELS)},
        expected=f"channel in {list(ALLOWED_CHANNELS)}",
        setting="etl.columns.channel",
    )


def _freshness_check(cfg: CanonicalChecks, ref: dt.datetime) -> Check:
    """The newest timestamp within max_staleness_hours of the reference time."""
    oldest = ref - dt.timedelta(hours=cfg.max_staleness_hours)
    return Check(
        "timestamp:freshness",
        "ExpectColumnMaxToBeBetween",
        "warning",
        "timestamp",
        {"min_value": oldest, "max_value": ref},
        expected=f"newest timestamp in [{oldest:%Y-%m-%d %H:%M:%S}, {ref:%Y-%m-%d %H:%M:%S}]"
        f" (reference time - {cfg.max_staleness_hours:g} h, reference time)",
        setting=f"{_C}.reference_time / {_C}.max_staleness_hours",
    )


def _label_time_check() -> Check:
    return Check(
        "label_time:after_timestamp",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        "error",
        "label_time",
        {
            "column_A": "label_time",
            "column_B": "timestamp",
            "or_equal": True,
            "ignore_row_if": "either_value_is_missing",
        },
        expected="label_time >= timestamp",
        setting="etl.columns.label_time",
    )


def _volume_check(cfg: CanonicalChecks) -> Check:
    """Every date's row count against its neighbours' (fraud_app.timeline, not GX)."""
    return Check(
        "event_date:volume",
        DAY_VOLUME,
        "warning",
        "event_date",
        {"ratio": cfg.min_day_volume_ratio},
        expected=f"every date from the first to the last with at least "
        f"{cfg.min_day_volume_ratio:g} x its usual rows (the median of the {NEIGHBOURS} "
        "dates either side); fewer is an outage or a partial delivery, and the window "
        "features of the days after it count fewer transactions than happened",
        setting=f"{_C}.min_day_volume_ratio (0: off)",
    )


def _schema_checks() -> list[Check]:
    """Rows exist, every canonical column has its type, required ones are never null (but
    the label: null while not known yet, etl.allow_unlabelled)."""
    checks = [
        Check("table:row_count", "ExpectTableRowCountToBeBetween", "error", None,
              {"min_value": 1}, "at least 1 row", "etl.input")
    ]  # fmt: skip
    for col in CANONICAL_COLUMNS:
        kwargs = {"type_": _SPARK_TYPE_NAMES[col.spark_type]}
        checks.append(
            Check(f"{col.name}:type", "ExpectColumnValuesToBeOfType", "error", col.name, kwargs,
                  f"type {kwargs['type_']}", "etl (writes the canonical types)")
        )  # fmt: skip
    for name in NOT_NULL_COLUMNS:
        checks.append(Check(f"{name}:not_null", "ExpectColumnValuesToNotBeNull", "error", name,
                            expected="no nulls", setting=f"etl.columns.{name}"))  # fmt: skip
    return checks


def feature_checks(
    dtypes: dict[str, str], cfg: FeatureChecks, features: Iterable[str] = ()
) -> list[Check]:
    """Generic feature-table suite from the table's (column -> Spark dtype) and config.
    `features`: the feature specs' names; one the table holds as another type than a
    number fails `<name>:type` (such a column was in no check: a feature written as text,
    or as booleans null in every row, passed)."""
    f = "validation.features"
    checks = [
        Check("table:row_count", "ExpectTableRowCountToBeBetween", "error", None,
              {"min_value": 1}, "at least 1 row", "features")
    ]  # fmt: skip
    if cfg.key_column in dtypes:
        checks.append(
            Check(f"{cfg.key_column}:unique", "ExpectColumnValuesToBeUnique", "error",
                  cfg.key_column, expected=f"every {cfg.key_column} once", setting=f"{f}.key_column")
        )  # fmt: skip
        key_spec = cfg.columns.get(cfg.key_column)
        # a spec of its own that is not nullable adds `<key>:not_null` itself; a nullable
        # one (`columns: {transaction_id: {nullable: true}}`) let null keys pass (review51d)
        if key_spec is None or key_spec.nullable:
            checks.append(_key_not_null(cfg.key_column))
    elif cfg.key_column not in cfg.columns:
        # a key column the table lacks (`key_column: txn_id`, the raw name) left the table's
        # keys unchecked without a word: every suite passed with duplicated rows
        checks.append(
            Check(f"{cfg.key_column}:exists", "ExpectColumnToExist", "error", cfg.key_column,
                  expected=f"the key column exists (each {cfg.key_column} once)",
                  setting=f"{f}.key_column")
        )  # fmt: skip
    for name in cfg.columns:
        checks.append(Check(f"{name}:exists", "ExpectColumnToExist", "error", name,
                            expected="the column exists", setting=f"{f}.columns.{name}"))  # fmt: skip
    skip = {cfg.key_column, *cfg.exclude}
    for name in sorted(n for n in set(features) - skip if n in dtypes and not numeric(dtypes[n])):
        checks.append(
            Check(f"{name}:type", "ExpectColumnValuesToBeInTypeList", "error", name,
                  {"type_list": _FEATURE_TYPES}, expected=f"a number ({dtypes[name]} is not)",
                  setting="the feature specs (the table `fraud-app features` writes holds "
                  "doubles); validation.features.exclude")
        )  # fmt: skip
    numbers = [c for c, t in dtypes.items() if numeric(t) and c not in skip]
    for name in sorted(set(numbers) | (set(cfg.columns) & set(dtypes))):
        checks += _value_checks(name, cfg)
    if PARTITION_COLUMN in dtypes and "timestamp" in dtypes:  # the table `features` writes
        checks.append(_partition_check())
    return checks


def _key_not_null(key: str) -> Check:
    """The feature table's key in every row: GX's uniqueness check reads only the rows that
    hold a value, so rows without a key (any number of them, all alike) passed it, and the
    key was in no other check (it is left out of the numeric columns' checks)."""
    return Check(
        f"{key}:not_null", "ExpectColumnValuesToNotBeNull", "error", key,
        expected=f"a {key} in every row (a row without its key cannot be told from another, "
        "nor joined back to its transaction)", setting="validation.features.key_column",
    )  # fmt: skip


def _value_checks(name: str, cfg: FeatureChecks) -> list[Check]:
    """A feature column's not-null check (a nullable one's: a value in at least one row)
    and its range check (its spec's min / max, else finite values)."""
    f = "validation.features"
    spec = cfg.columns.get(name)
    severity = spec.severity if spec else cfg.default_severity
    key = f"{f}.columns.{name}" if spec else f"{f}.columns.{name} / {f}.exclude"
    checks = []
    if not (spec and spec.nullable):
        checks.append(
            Check(f"{name}:not_null", "ExpectColumnValuesToNotBeNull", severity, name,
                  expected="no nulls", setting=f"{key} (nullable)")
        )  # fmt: skip
    else:  # nullable, but not null in every row: such a feature carries no information
        checks.append(_not_all_null(name, severity, f"{key} (nullable, severity)"))
    low = spec.min if spec and spec.min is not None else -DOUBLE_MAX
    high = spec.max if spec and spec.max is not None else DOUBLE_MAX
    kind = "range" if spec and (spec.min is not None or spec.max is not None) else "finite"
    checks.append(
        Check(
            f"{name}:{kind}",
            "ExpectColumnValuesToBeBetween",
            severity,
            name,
            {"min_value": low, "max_value": high},
            expected="finite values" if kind == "finite" else f"values in [{low:g}, {high:g}]",
            setting=f"{key} (min / max)",
        )
    )
    return checks


def unknown_severity_names(
    overrides: dict[str, Severity], where: str = "", names: list[str] | None = None
) -> str | None:
    """What is wrong with the check names of a severities mapping (None: nothing): each
    unknown one with the nearest valid name, then every valid name. `names` defaults to
    the canonical suite's."""
    if names is None:
        names = [c.name for c in _all_canonical_checks(CanonicalChecks(), None)]
    unknown = sorted(set(overrides) - set(names))
    if not unknown:
        return None
    lead = f"{where}: " if where else ""
    return f"{lead}unknown check name(s) {name_unknown(unknown, names)}. Valid: {names}"


def _with_severities(
    checks: list[Check], overrides: dict[str, Severity], where: str
) -> list[Check]:
    names = [c.name for c in checks]
    problem = unknown_severity_names(overrides, where, names)
    if problem:
        raise ConfigError(problem)
    return [replace(c, severity=overrides.get(c.name, c.severity)) for c in checks]
