"""Run Checks on a Spark DataFrame with Great Expectations 1.x (ephemeral context).

The only module that imports great_expectations (slow: ~4 s of CPU), lazily;
`import_great_expectations` lets a workflow do that import early on a background thread
(while the JVM starts), so that its first validation does not wait for it. GX returns
results in no particular order, so each expectation carries its check name in
`meta` and results are matched back by it. Failing-row identities come back only
when `unexpected_index_column_names` names a key column, so we pass one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from fraud_app.card_masking import mask_pans, mask_record
from fraud_app.validation.suites import Check

logger = logging.getLogger(__name__)

_import_lock = threading.Lock()  # one thread imports GX, another that needs it waits
IMPORT_TIMEOUT_S = 300.0  # how long a validation waits for another thread's import of GX


@dataclass(frozen=True)
class CheckResult:
    name: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed: str | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    examples: tuple[dict[str, Any], ...] = ()
    error: str | None = None  # GX raised (e.g. the column does not exist)
    expected: str = ""  # what passes, in words (from the Check)
    setting: str = ""  # the config key(s) that change it


def run_checks(
    df: DataFrame, checks: list[Check], suite_name: str, key_column: str | None, examples: int
) -> list[CheckResult]:
    """Validate `df` against `checks`; results in the order of `checks`.

    Pass 1 runs every check for its outcome, without GX's example queries: the strict
    row-level checks (`_counts_follow_from_success`) in result format BOOLEAN_ONLY, whose
    counts a pass implies (0 unexpected rows); the others (aggregates with an observed
    value, `mostly` < 1) in BASIC with `partial_unexpected_count` 0. GX computes the same
    unexpected counts either way; in BASIC it also builds an example query per row-level
    check (`limit(0)`: no Spark job, but a plan for the JVM to analyse and optimise, ~600
    for the feature suite), which was most of the suite's time on the driver
    (`validate --table features`, 200k rows: 27.8 -> 17.2 s at load ~15, 7 -> 9 Spark
    jobs). Pass 2 re-runs only the checks that failed: with examples (SUMMARY, the key
    column) when `examples` > 0, otherwise in BASIC for their counts. A check's outcome
    and counts do not depend on the other checks in its validation, so the results equal
    one SUMMARY validation of the whole suite, apart from the examples of passed checks.

    `df` is cached for these passes and uncached after them (`_cached`): GX's Spark data
    source cached it and never let it go, so the table stayed in the session's cache
    (and the executors' memory) after the validation, and a later read of the same table
    in that session got the cached rows: `validate`, `etl --mode append`, `features` in
    one session (a notebook) built no features for the appended date.
    """
    import_great_expectations()
    with _cached(df):
        return _run_checks(df, checks, suite_name, key_column, examples)


@contextlib.contextmanager
def _cached(df: DataFrame):
    """`df` cached while the block runs, uncached after it, unless it was cached before
    (the caller's cache, or another DataFrame's of the same plan, is left as it was)."""
    if df.storageLevel != StorageLevel.NONE:
        yield
        return
    df.persist()  # the level GX's data source asked for (the default)
    try:
        yield
    finally:
        df.unpersist()


def _run_checks(
    df: DataFrame, checks: list[Check], suite_name: str, key_column: str | None, examples: int
) -> list[CheckResult]:
    """run_checks' passes, on the cached `df`."""
    counted = {c.name for c in checks if _counts_follow_from_success(c)}
    from_success = [c for c in checks if c.name in counted]
    rest = [c for c in checks if c.name not in counted]
    basic: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 0}
    by_name: dict[str, dict[str, Any]] = {}
    if rest:
        by_name.update(_validate(df, rest, suite_name, basic))
    if from_success:
        by_name.update(_validate(df, from_success, suite_name, {"result_format": "BOOLEAN_ONLY"}))
    # a failed not-all-null check's rows are all its rows, each null: no examples to fetch
    failed = [
        c
        for c in checks
        if not _passed(by_name.get(c.name)) and not c.name.endswith(":not_all_null")
    ]
    if failed and examples > 0:
        result_format: dict[str, Any] = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": examples,
        }
        if key_column and key_column in df.columns:
            result_format["unexpected_index_column_names"] = [key_column]
        by_name.update(_validate(df, failed, suite_name, result_format))
    elif failed and (uncounted := [c for c in failed if c.name in counted]):
        by_name.update(_validate(df, uncounted, suite_name, basic))
    results = [_result(check, by_name.get(check.name), check.name in counted) for check in checks]
    return [
        _with_nan_examples(df, c, r, key_column, examples)
        for c, r in zip(checks, results, strict=True)
    ]


# Row-level expectations whose result is an observed value (the column's type), not counts.
_SCHEMA_EXPECTATIONS = frozenset(
    {"ExpectColumnValuesToBeOfType", "ExpectColumnValuesToBeInTypeList"}
)


def _counts_follow_from_success(check: Check) -> bool:
    """A row-level (map) expectation with no `mostly`: it passes only when no row is
    unexpected, so a pass says its counts (0 rows, 0 %) without GX reporting them."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    if check.expectation in _SCHEMA_EXPECTATIONS or check.kwargs.get("mostly", 1.0) != 1.0:
        return False
    cls = getattr(gxe, check.expectation, None)
    maps = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    return isinstance(cls, type) and issubclass(cls, maps)


def _validate(
    df: DataFrame, checks: list[Check], suite_name: str, result_format: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """check name -> GX's raw outcome (success, result, exception_info)."""
    batch_def, suite = _gx_batch_and_suite(checks, suite_name)
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    outcome = batch.validate(suite, result_format=result_format)
    return {
        r.expectation_config.meta["check"]: {
            "success": r.success,
            "result": r.result,
            "exception_info": r.exception_info,
        }
        for r in outcome.results
    }


def _passed(raw: dict[str, Any] | None) -> bool:
    """What _result calls a pass: GX said success and raised nothing."""
    if raw is None:
        return False
    return bool(raw.get("success")) and _exception_message(raw.get("exception_info") or {}) is None


def _with_nan_examples(
    df: DataFrame, check: Check, result: CheckResult, key: str | None, n: int
) -> CheckResult:
    """GX counts NaN as out of range but leaves NaN rows out of its example list; fetch
    the examples of a failed range check ourselves when GX returned too few."""
    if (
        result.success
        or check.expectation != "ExpectColumnValuesToBeBetween"
        or not result.unexpected_count
        or len(result.examples) >= min(n, result.unexpected_count)
    ):
        return result
    from pyspark.sql import functions as F

    col = F.col(check.column)
    low, high = check.kwargs.get("min_value"), check.kwargs.get("max_value")
    bad = F.isnan(col)
    if low is not None:
        bad = bad | ((col <= low) if check.kwargs.get("strict_min") else (col < low))
    if high is not None:
        bad = bad | ((col >= high) if check.kwargs.get("strict_max") else (col > high))
    keep = [key] if key and key in df.columns and key != check.column else []
    rows = df.filter(col.isNotNull() & bad).select(*keep, check.column).limit(n).collect()
    return replace(result, examples=tuple(_plain(r.asDict()) for r in rows))


def import_great_expectations() -> None:
    """Import the GX modules a validation uses. Called from a background thread early in a
    workflow, the validation's own call then waits for that import (at most
    IMPORT_TIMEOUT_S) instead of importing the same modules beside it."""
    t0 = time.monotonic()
    locked = _import_lock.acquire(timeout=IMPORT_TIMEOUT_S)
    if not locked:
        logger.warning(
            "another thread has been importing great_expectations for %.0f s; importing it "
            "here", time.monotonic() - t0,
        )  # fmt: skip
    try:
        import great_expectations
        import great_expectations.expectations  # noqa: F401
        from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: F401
    finally:
        if locked:
            _import_lock.release()


def _gx_batch_and_suite(checks: list[Check], suite_name: str):
    """An ephemeral GX context with a whole-DataFrame Spark batch definition and the suite."""
    import_great_expectations()
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.enable_analytics(False)
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    token = uuid.uuid4().hex[:8]
    # persist=False: run_checks caches the DataFrame for the validation and uncaches it
    source = context.data_sources.add_spark(name=f"spark_{token}", persist=False)
    batch_def = source.add_dataframe_asset(name=suite_name).add_batch_definition_whole_dataframe(
        f"whole_{token}"
    )
    suite = gx.ExpectationSuite(name=f"{suite_name}_{token}")
    for check in checks:
        kwargs = {k: process_time(v) for k, v in check.kwargs.items()}
        if check.column is not None and "column_A" not in kwargs:
            kwargs["column"] = check.column
        suite.add_expectation(getattr(gxe, check.expectation)(**kwargs, meta={"check": check.name}))
    return batch_def, context.suites.add(suite)


def _result(check: Check, raw: dict[str, Any] | None, counted_by_success: bool) -> CheckResult:
    if raw is None:  # GX dropped it: treat as a failure rather than a silent pass
        return CheckResult(
            check.name, check.expectation, check.column, check.severity, False,
            error="no result", expected=check.expected, setting=check.setting,
        )  # fmt: skip
    res = raw.get("result") or {}
    error = _exception_message(raw.get("exception_info") or {})
    examples = res.get("partial_unexpected_index_list") or [
        {check.column or "value": v} for v in res.get("partial_unexpected_list") or []
    ]
    observed = utc_time(res.get("observed_value"))
    success = bool(raw.get("success")) and error is None
    if observed is None and "observed_value" in res and not success and error is None:
        observed = _no_value(check)
    if counted_by_success and success and "unexpected_count" not in res:
        res = {**res, "unexpected_count": 0, "unexpected_percent": 0.0}
    if check.name.endswith(":not_all_null") and not success and error is None:
        # its failing rows are every row, each null: no example says more than the count
        observed, examples = f"null in every row ({res.get('unexpected_count')} rows)", []
    return CheckResult(
        name=check.name,
        expectation=check.expectation,
        column=check.column,
        severity=check.severity,
        success=success,
        observed=None if observed is None else mask_pans(str(observed)),
        unexpected_count=res.get("unexpected_count"),
        unexpected_percent=_finite_or_none(res.get("unexpected_percent")),
        examples=tuple(_plain(e) for e in examples),
        error=error,
        expected=check.expected,
        setting=check.setting if success or error else _crossed_bound(check, res),
    )


def _no_value(check: Check) -> str:
    """What a failed aggregate check (a column's mean, max, ...) observed when the column
    holds no value: GX's observed value is None, and the report said only `observed a
    failure` (a table whose rows were all unlabelled failed `label:rate` so)."""
    if check.name == "label:rate":
        return (
            "no labelled row (label is null in every row, or the table has no rows): no "
            "fraud rate to check. Labels not known yet (etl.allow_unlabelled) are delivered "
            "with `fraud-app labels FEED`; labels the ETL read as null: see etl.columns.label "
            "and etl.label_values"
        )
    return f"no value (column '{check.column}' is null in every row, or the table has no rows)"


def _crossed_bound(check: Check, res: dict[str, Any]) -> str:
    """A failed range check of one observed number (`label:rate`: the fraud rate) names
    the bound it crossed and the value that would pass, not both settings: a new user's
    5 % fraud rate under `fraud-app init`'s demo bounds (0.001 .. 0.02) was told
    `setting: ...label_rate_min / ...label_rate_max` without which one or to what."""
    observed, low, high = (res.get("observed_value"), check.kwargs.get("min_value"),
                           check.kwargs.get("max_value"))  # fmt: skip
    names = check.setting.split(" / ")
    if (
        len(names) != 2
        or not _number(observed)
        or not all(_number(v) for v in (low, high) if v is not None)
    ):
        return check.setting
    if high is not None and observed > high:
        name, side, bound = names[1], "above", high
        fix = f"at least {_round_away(observed, math.ceil):g}"
    elif low is not None and observed < low:
        name, side, bound = names[0], "below", low
        fix = f"at most {_round_away(observed, math.floor):g}"
    else:
        return check.setting
    return (
        f"{name} (observed {observed:g} is {side} its {bound:g}; if that is what your data "
        f"holds, set {name} to {fix}){_no_fraud_hint(check, observed)}"
    )


def _no_fraud_hint(check: Check, observed: float) -> str:
    """A fraud rate of 0 is more often labels misread than data without fraud: an export
    writing F for fraud and N for normal was read as false and no (session 40), and the
    advice to lower the bound alone led to a training that has no fraud to learn."""
    if check.name != "label:rate" or observed != 0:
        return ""
    return (
        ". No labelled row is a fraud (label 1), and no model learns fraud without one: "
        "first check how the export's labels were read (etl.columns.label, "
        "etl.label_values; the ETL's WARNING about label words of two kinds, e.g. F "
        "beside N)"
    )


def _round_away(x: float, direction: Any) -> float:
    """`x` to two significant digits, rounded by `direction` (math.ceil / math.floor) so
    the value still lets `x` pass: 0.0523 -> 0.053 (ceil), 0.00047 -> 0.00047."""
    if x == 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(abs(x))) - 1)
    # round first: 0.2 / 0.01 is 20.000000000000004, whose ceil is 21
    return float(f"{direction(round(x / scale, 9)) * scale:.12g}")


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _exception_message(info: dict[str, Any]) -> str | None:
    """GX gives one {raised_exception, exception_message} dict, or one per metric."""
    infos = (
        [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    )
    messages = [str(i.get("exception_message")) for i in infos if i.get("raised_exception")]
    return mask_pans("; ".join(messages)) or None


def _finite_or_none(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _plain(example: Any) -> dict[str, Any]:
    """JSON-safe copy of one failing-row example (NaN/inf as strings), its card numbers
    masked (fraud_app.card_masking: a card_id value, a card number in any text): the
    reports are logged to MLflow, read and mailed outside the data lake; the row itself is
    found in the table by its key column."""
    if not isinstance(example, dict):
        example = {"value": example}
    return mask_record(
        {str(k): v if _json_safe(v) else str(utc_time(v)) for k, v in example.items()}
    )


# PySpark hands a timestamp to Python as a naive datetime in the PROCESS's local zone, and
# reads a naive datetime literal in that zone too (GX's aggregates and bounds cross there);
# our bounds are naive UTC. In a process under TZ=Asia/Kolkata the freshness check saw the
# newest timestamp 5:30 h late (a fresh table "in the future", a stale one fresh) and the
# reports showed failing rows' times in local time.
def process_time(value: Any) -> Any:
    """A naive UTC datetime as the naive local time PySpark takes it for; else as is."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC).astimezone().replace(tzinfo=None)
    return value


def utc_time(value: Any) -> Any:
    """A naive datetime PySpark collected (local time) as naive UTC; else as is."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _json_safe(v: Any) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, str | int | bool | type(None))
