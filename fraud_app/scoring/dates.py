"""The dates of a requested range that hold no rows, named for `score` and `evaluate`.

A scheduler's range can run ahead of the deliveries: the job then succeeds on the dates
it found, and the summary listed only those, so "not delivered yet" read like "a day
without alerts". Owns the list and its WARNING; not the jobs themselves.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Iterable

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.errors import ConfigError
from fraud_app.schema import calendar_date, week_advice

logger = logging.getLogger(__name__)
MAX_LISTED_DATES = 366  # dates_without_rows lists at most these; days_without_rows counts all


def dates_without_rows(
    start: dt.date, end: dt.date, present: Iterable, limit: int | None = None
) -> list[str]:
    """The dates of start..end (inclusive) not in `present` (dates or ISO strings), as ISO;
    the first `limit` of them when given (a window of centuries lists nothing else)."""
    seen = {str(d) for d in present}
    days = ((start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1))
    return list(itertools.islice((day for day in days if day not in seen), limit))


def as_date(value, name: str) -> dt.date:
    """A window bound from Python: a date, a datetime (its date) or ISO text ('2024-01-31');
    text failed deep inside with 'can only concatenate str (not "datetime.timedelta")'."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return calendar_date(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name} must be a date (datetime.date or text like 2024-01-31). Received: "
            f"{value!r}{week_advice(value)}"
        ) from None


def date_literal(day: dt.date) -> Column:
    """A date as a Spark literal. F.lit(date) fails for years before 1000 (Py4J:
    IllegalArgumentException without a message); ISO text cast to date takes 0001-9999."""
    return F.lit(day.isoformat()).cast("date")


def timestamp_literal(moment: dt.datetime) -> Column:
    """A UTC datetime as a Spark timestamp literal, for the same years (the session is UTC)."""
    return F.lit(moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat()).cast("timestamp")


def warn_dates_without_rows(
    step: str, start, end, empty: list[str], table: str, total: int | None = None
) -> None:
    """`total`: how many dates lack rows when `empty` lists only the first of them."""
    if not empty:
        return
    total = len(empty) if total is None else total
    last = empty[-1] if total == len(empty) else "..."
    shown = ", ".join(empty) if total <= 6 else f"{', '.join(empty[:3])}, ..., {last}"
    logger.warning(
        "%s %s..%s: %d date(s) have no transactions in %s, so nothing was %s for them: %s. "
        "Deliver their files and run `fraud-app etl`%s, then %s those dates again",
        step, start, end, total, table, "scored" if step == "score" else "evaluated",
        shown, "" if step == "score" else " and `fraud-app features`", step,
    )  # fmt: skip


def warn_earlier_scores(start, end, kept: list[str]) -> None:
    """A re-run replaces a date's scores partition with its new scores; a date that has no
    transactions any more (a delivery replaced without it) writes nothing, so the earlier
    job's partition stays, scores of rows the canonical table no longer holds: named here,
    not deleted (an ETL that lost a day by mistake must not take its scores with it)."""
    if kept:
        logger.warning(
            "score %s..%s: %d date(s) without transactions keep an earlier job's scores "
            "partition: %s. Those rows are no longer in the canonical table; delete the "
            "partition(s) if their transactions were withdrawn, or deliver them again",
            start, end, len(kept), ", ".join(kept),
        )  # fmt: skip
