"""Wall clocks that etl.time_zone cannot place one to one: its daylight-saving edges.

A wall clock of the spring-forward gap (2026-03-08 02:30 in New York: clocks jumped
02:00 -> 03:00) names no instant; Java's rule moved it forward by the gap, onto the
instant of a real 03:30 and after the real 03:00-03:29 rows, so `gap` rows are
quarantined (fraud_app.etl.rules, `nonexistent_local_time`). A wall clock of the
fall-back overlap (01:30 on 2026-11-01 happened twice) is read with the earlier offset
(documented); the rows of the repeated hour's second pass land an hour early, so the ETL
counts them (`ambiguous_local_times` in its report) and says so in a WARNING.

An input whose timestamps are all at midnight holds dates, not times: `times_of`
finds it from the same aggregation (`date_only_timestamps`, a WARNING).

Owns the two per-row tests and those WARNINGs; not the parsing (fraud_app.etl.parsing)
or the rules' order.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraud_app.etl import parsing

logger = logging.getLogger(__name__)
GAP, OVERLAP = "__g_", "__o_"  # per canonical time column: True where the test holds
AMBIGUOUS = "__ambiguous"  # in the stage: the row's timestamp or label_time is in an overlap
LOCAL_TIMES = ("timestamp", "label_time")  # the columns etl.time_zone places
_HALF_DAY_US = 12 * 3_600 * 1_000_000


def columns(
    name: str, src: Column, dtype: T.DataType, fmt: str | None, value: Column, zone: str | None
) -> dict[str, Column]:
    """{GAP + name, OVERLAP + name}: whether the wall clock is in the zone's gap or its
    overlap; both False without a zone or for instants (epochs, offsets, aware Parquet)."""
    naive = parsing.wall_clock(dtype, fmt, value) if zone is not None else None
    if naive is None:
        return never(name)
    # the wall clock, read as UTC (a date alone of label_time: its day's end, as parsed)
    wall = parsing.parsed_time(src, dtype, fmt, value, name in parsing.DAY_END_COLUMNS)
    here = F.lit(zone)
    instant = F.to_utc_timestamp(wall, here)  # an overlap: the earlier offset (Java's rule)
    us = F.unix_micros(instant)

    def offset(micros: Column) -> Column:
        return F.unix_micros(F.from_utc_timestamp(F.timestamp_micros(micros), here)) - micros

    # the clocks went back by `back` within 12 h: the same wall clock `back` later too
    back = offset(us) - offset(us + F.lit(_HALF_DAY_US))
    again = F.from_utc_timestamp(F.timestamp_micros(us + back), here) == wall
    is_naive = F.lit(True) if naive is True else naive
    gap = F.from_utc_timestamp(instant, here) != wall
    return {
        GAP + name: F.coalesce(is_naive & gap, F.lit(False)),
        OVERLAP + name: F.coalesce(is_naive & ~gap & (back > 0) & again, F.lit(False)),
    }


def never(name: str) -> dict[str, Column]:
    """The columns of `columns` for a value that is absent or an instant."""
    return {GAP + name: F.lit(False), OVERLAP + name: F.lit(False)}


def summary_columns(zone: str | None) -> dict[str, Column]:
    """The aggregates `times_of` reads, over the ETL's staged rows (AMBIGUOUS, reason,
    timestamp; fraud_app.etl.stage_summary computes them as the stage is written) and of
    its published-bound rows (no reason). `zone`: etl.time_zone (None: UTC)."""
    ok = F.col("reason").isNull()
    ambiguous = ok & F.col(AMBIGUOUS)
    wall = F.from_utc_timestamp("timestamp", zone) if zone is not None else F.col("timestamp")
    # as text in the session's zone (UTC, ensure_utc): a collected datetime is local time
    first_ambiguous = F.min(F.when(ambiguous, F.col("timestamp")))
    return {
        "__times_rows": F.count(F.when(ok, True)),
        "__times_ambiguous": F.count(F.when(ambiguous, True)),
        "__times_first_ambiguous": F.date_format(first_ambiguous, "yyyy-MM-dd HH:mm:ss"),
        "__times_with_time": F.count(F.when(ok & (wall != F.date_trunc("day", wall)), True)),
    }


def times_of(metrics: dict, zone: str | None) -> tuple[int, bool]:
    """(rows whose wall clock is in the overlap, whether every timestamp is a date) of the
    published-bound rows, from the values of `summary_columns(zone)` (`metrics`).

    Ambiguous rows: a WARNING (the module docstring). Dates: at least two rows and each at
    00:00:00 on the zone's clock: an export of dates, not times (a Parquet `date`, text
    `2025-09-01`), published at midnight without a word (session 40, data40), where a
    real time falls on midnight once in 86,400 s. A WARNING says what the features lose.
    Was its own job after the stage was written (session 41: the write's observation)."""
    n, ambiguous, first, with_time = (
        metrics[f"__times_{k}"] for k in ("rows", "ambiguous", "first_ambiguous", "with_time")
    )
    if ambiguous:
        logger.warning(
            "ETL: %d row(s) hold a wall clock that happened twice in %s (etl.time_zone): "
            "its fall-back hour, e.g. the row at %s UTC. Each is read with the earlier "
            "offset, so the rows of the repeated hour's second pass are placed an hour "
            "early (their order and 1 h windows may be off). Export times with their UTC "
            "offset (e.g. -05:00) or in UTC to place them exactly",
            ambiguous, zone, first,
        )  # fmt: skip
    dates = n >= 2 and with_time == 0
    if dates:
        logger.warning(
            "ETL: every one of the %d timestamps published (etl.columns.timestamp) is at "
            "00:00:00 %s: the input holds dates, not times of day. Each day's rows are "
            "placed at one instant, so the features of windows under a day, of the time "
            "since the previous transaction, of velocity and of the hour of day carry "
            "little or nothing. Map the column that holds the time of day, if the export "
            "has one (etl.columns.timestamp); if it has none, this is expected",
            n, f"in {zone} (etl.time_zone)" if zone is not None else "UTC",
        )  # fmt: skip
    return int(ambiguous), dates
