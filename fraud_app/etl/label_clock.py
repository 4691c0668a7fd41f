"""How fine the label_time clock is (`label_time_resolution` in the ETL report), and a
label clock of days written as midnight timestamps read as the END of each day.

A label is known from its label_time on (fraud_app.features.labels: a fraud counts for a
transaction at t when label_time < t). A chargeback system that records only the day a
label arrived, and exports it as that day's midnight (`2024-03-05 00:00:00`, a Parquet
timestamp, pandas' datetime of a date), said the label was known up to a day before it
was: every transaction of the card on that day, before the label really came, counted the
fraud in its fraud-rate features (a leak into training data the scorer never has), and a
fraud of that same day had its label "before" the transaction and was quarantined as
`label_time_before_timestamp` (probe54a). A date written alone (`2024-03-05`, a Parquet
date) is read as the end of its day since review51c (fraud_app.etl.parsing.DAY_END_COLUMNS).
Since review54a a delivery (an ETL run's input, one label feed) whose every label_time is
a whole day of the wall clock in etl.time_zone (a midnight, or a date read as its day's
end), with at least one written as a midnight, is read the same way: each midnight is its
day's last microsecond (`read_day_clock`: a limit job reading the first label_times, and
only for a clock that may be of days one aggregate over the delivery's).
A single label_time off midnight (a clock of seconds, hours) leaves every value as
written. The report counts the values so read (`label_times_read_as_day_end`) and one
line says so.

Owns that reading, the aggregates of the resolution (computed as the stage is written,
fraud_app.etl.stage_summary) and what their values mean; not the parsing.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.etl.clock_resolution import RESOLUTIONS, UNITS

logger = logging.getLogger(__name__)
BEFORE_TIMESTAMP = "label_time_before_timestamp"
_DAY_US = 86_400_000_000
MOVED = "__lt_moved"  # flag (read_day_clock): the row's midnight label_time read as its day's end


def _wall(value: Column, zone: str | None) -> Column:
    """A UTC instant as the wall clock in `zone` (etl.time_zone; None: UTC), read as UTC."""
    return F.from_utc_timestamp(value, zone) if zone is not None else value


def read_day_clock(
    parsed: DataFrame, column: str | None, zone: str | None
) -> tuple[DataFrame, int]:
    """`parsed` with `column` (a parsed label_time, UTC; None: the delivery has no
    label_time column, no Spark job) read as a clock of days when every
    value of the delivery is a whole day of the wall clock in `zone` and some are written
    as midnights: each midnight moved to its day's last microsecond (as a date alone is
    read, parsing.parsed_time), flagged in `MOVED`; and how many were moved (0: `column`
    as it was, `MOVED` false). A limit job finds the first deciding value (off a whole
    day: done, usually in the first rows); only when it is a midnight does one aggregate
    over the delivery's label_time decide and count."""
    if column is None:
        return parsed.withColumn(MOVED, F.lit(False)), 0
    wall = _wall(F.col(column), zone)
    after = wall + F.expr("INTERVAL 1 MICROSECOND")
    midnight = wall == F.date_trunc("day", wall)
    whole = midnight | (after == F.date_trunc("day", after))
    # the first label_time that decides (off a whole day, or a midnight): a clock of seconds
    # answers on its first value, a limit job that reads the first rows of one partition,
    # where the aggregate below scans (and parses) the whole delivery once more
    first = parsed.filter(~whole | midnight).select(midnight.alias("m")).limit(1).collect()
    if not first or not first[0]["m"]:
        return parsed.withColumn(MOVED, F.lit(False)), 0
    row = parsed.agg(
        F.count(F.when(~whole, True)).alias("off"),
        F.count(F.when(midnight, True)).alias("midnights"),
    ).first()
    if row is None or row["off"] or not row["midnights"]:
        return parsed.withColumn(MOVED, F.lit(False)), 0
    end = F.timestamp_micros(F.unix_micros(wall) + F.lit(_DAY_US - 1))
    end = F.to_utc_timestamp(end, zone) if zone is not None else end
    moved = F.coalesce(midnight, F.lit(False))
    read = {column: F.when(moved, end).otherwise(F.col(column)), MOVED: moved}
    return parsed.withColumns(read), int(row["midnights"])


def say_read_as_day_end(moved: int, where: str, zone: str | None, first: bool) -> None:
    """The one line saying that `moved` midnights of the delivery `where` were read as
    their day's end (`read_day_clock`): a WARNING the `first` time a table's labels are
    read so (the last report's label_time_resolution was not 'day'), INFO after (a daily
    export of a day clock says it on every delivery; review53b found such repeated
    WARNINGs hide new ones)."""
    if not moved:
        return
    logger.log(
        logging.WARNING if first else logging.INFO,
        "%s: every label_time is a whole day %s, %d of them written as the day's midnight "
        "(00:00:00): a clock of days, each midnight read as the END of its day "
        "(23:59:59.999999), as a date alone is, so that no label counts as known before "
        "the day it arrived ended (else the card's earlier transactions of that day count "
        "it, and a fraud of that day is quarantined as %s). label_time_resolution 'day' "
        "and label_times_read_as_day_end %d in the report",
        where, _zone_words(zone), moved, BEFORE_TIMESTAMP, moved,
    )  # fmt: skip


def _zone_words(zone: str | None) -> str:
    return f"in {zone} (etl.time_zone)" if zone is not None else "UTC"


def summary_columns(zone: str | None) -> dict[str, Column]:
    """Over the published-bound rows (no reason) with a label_time: their count, the rows
    off a whole second, minute, hour and day of the wall clock in `zone` (a day's last
    microsecond, a date read as its day's end, counted as the next whole day); over every
    row, the midnights read as their day's end (`read_day_clock`'s flag)."""
    ok = F.col("reason").isNull() & F.col("label_time").isNotNull()
    wall = F.col("label_time")
    wall = F.from_utc_timestamp(wall, zone) if zone is not None else wall
    after = wall + F.expr("INTERVAL 1 MICROSECOND")
    day_end = after == F.date_trunc("day", after)
    clock = F.when(day_end, after).otherwise(wall)
    return {
        "__lt_rows": F.count(F.when(ok, True)),
        **{
            f"__lt_off_{u}": F.count(F.when(ok & (clock != F.date_trunc(u, clock)), True))
            for u in UNITS
        },
        # the delivery's values read as their day's end, published or quarantined
        "__lt_moved": F.count(F.when(F.col(MOVED), True)),
    }


def resolution_of(metrics: dict) -> str:
    """The label_time clock's resolution over the published rows ('sub-second' .. 'day';
    '' without a published label_time)."""
    n = metrics.get("__lt_rows") or 0
    if not n:
        return ""
    off = [metrics[f"__lt_off_{u}"] for u in UNITS]
    return next((r for r, k in zip(RESOLUTIONS, off, strict=False) if k), "day")
