"""Wall clocks that etl.time_zone cannot place one to one: its daylight-saving edges.

A wall clock of the spring-forward gap (2026-03-08 02:30 in New York: clocks jumped
02:00 -> 03:00) names no instant; Java's rule moved it forward by the gap, onto the
instant of a real 03:30 and after the real 03:00-03:29 rows, so `gap` rows are
quarantined (fraud_app.etl.rules, `nonexistent_local_time`). A wall clock of the
fall-back overlap (01:30 on 2026-11-01 happened twice) is read with the earlier offset
(documented); the rows of the repeated hour's second pass land an hour early, so the ETL
counts them (`ambiguous_local_times` in its report) and says so in a WARNING.

Owns the two per-row tests and that WARNING; not the parsing (fraud_app.etl.parsing) or
the rules' order.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame
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
    wall = parsing.parsed_time(src, dtype, fmt, value)  # the wall clock, read as UTC
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


def count_ambiguous(stage: DataFrame, zone: str | None) -> int:
    """Published-bound rows (no reason) with a wall clock of the overlap; 0 without a zone
    (no job). `stage`: the ETL's staged rows (AMBIGUOUS, reason)."""
    if zone is None:
        return 0
    rows = stage.filter(F.col(AMBIGUOUS) & F.col("reason").isNull())
    # as text in the session's zone (UTC, ensure_utc): a collected datetime is local time
    n, first = rows.agg(
        F.count(F.lit(1)), F.date_format(F.min("timestamp"), "yyyy-MM-dd HH:mm:ss")
    ).first()
    if n:
        logger.warning(
            "ETL: %d row(s) hold a wall clock that happened twice in %s (etl.time_zone): "
            "its fall-back hour, e.g. the row at %s UTC. Each is read with the earlier "
            "offset, so the rows of the repeated hour's second pass are placed an hour "
            "early (their order and 1 h windows may be off). Export times with their UTC "
            "offset (e.g. -05:00) or in UTC to place them exactly",
            n, zone, first,
        )  # fmt: skip
    return int(n)
