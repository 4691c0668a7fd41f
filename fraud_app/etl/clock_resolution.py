"""How fine the input's clock is: the coarsest unit every published timestamp is a whole
number of (`timestamp_resolution` in the ETL report), and a WARNING when it is a whole
minute or hour, or when offsets read as seconds put many rows into one hour.

Every window of the features reads the rows strictly BEFORE a row's instant: rows of one
card at the same instant do not see each other (fraud_app.features.window_kinds, the same
rule in the full build, the incremental build and the scorer, whatever the files' or
partitions' order). On a clock of whole seconds such ties are rare; on one of whole
minutes every transaction of a card in that minute is blind to the others, a "1 minute"
velocity window reads the minute before, and `time_since_previous` is a multiple of 60 s:
the features mean something else than on the data the specs were written for, without a
word (session 53). Dates only (every row at 00:00:00) keep their own WARNING
(fraud_app.etl.local_times, `date_only_timestamps`).

A unit mix-up that stays inside the bounds: PaySim's hour `step` read under
`etl.timestamp_format: offset_seconds` squeezes a month into 743 seconds. An offset read
as seconds whose published rows (at least `_SQUEEZED_ROWS`) all fall within the first hour
after the origin is named (the reverse, seconds read as hours, lands years away: the bounds quarantine it).

Owns the aggregates (computed as the stage is written, fraud_app.etl.stage_summary) and
what their values mean; not the parsing (fraud_app.etl.parsing).
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.etl.config import EtlSection

logger = logging.getLogger(__name__)
# the units, finest first: a row off a whole `unit` makes the clock at least that fine
UNITS = ("second", "minute", "hour", "day")
RESOLUTIONS = ("sub-second", *UNITS)
# a clock of whole minutes or hours is named from this many rows: 20 real times of
# second resolution all on whole minutes has odds of 60^-19 (a few hand-written rows,
# all at 10:00:00, are not a coarse clock worth a WARNING)
COARSE_ROWS = 20
_SQUEEZED_ROWS = 1000  # rows of an offset_seconds input within one hour: hours read as seconds?
_HOUR_US = 3_600 * 1_000_000


def summary_columns(zone: str | None) -> dict[str, Column]:
    """Over the stage's published-bound rows (no reason): the rows off a whole second,
    minute, hour and day of the wall clock in `zone` (etl.time_zone; None: UTC), and the
    span of their instants in microseconds."""
    ok = F.col("reason").isNull()
    ts = F.col("timestamp")
    wall = F.from_utc_timestamp(ts, zone) if zone is not None else ts
    micros = F.unix_micros(F.when(ok, ts))
    return {
        "__clock_rows": F.count(F.when(ok, True)),
        **{
            f"__clock_off_{u}": F.count(F.when(ok & (wall != F.date_trunc(u, wall)), True))
            for u in UNITS
        },
        "__clock_span_us": F.max(micros) - F.min(micros),
        "__clock_max_us": F.max(micros),
    }


def resolution_of(metrics: dict, cfg: EtlSection, before: object = None) -> str:
    """The clock's resolution ('sub-second', 'second', 'minute', 'hour', 'day'; '' without
    published rows) from the values of `summary_columns` (`metrics`), with its WARNINGs.

    `before`: the `timestamp_resolution` of the table's last ETL report on an append. The
    coarse-clock WARNING is said once per table, not on every daily delivery of an
    export whose clock is known to be coarse (review53b: the same WARNING in the log of
    every run is noise that hides the new ones), and not for `offset_hours`, whose
    format states a clock of hours."""
    n = metrics["__clock_rows"]
    if not n:
        return ""
    off = [metrics[f"__clock_off_{u}"] for u in UNITS]
    resolution = next((r for r, k in zip(RESOLUTIONS, off, strict=False) if k), "day")
    said = before == resolution or (resolution == "hour" and cfg.timestamp_format == "offset_hours")
    if resolution in ("minute", "hour") and n >= COARSE_ROWS and not said:
        zone = f"in {cfg.time_zone} (etl.time_zone)" if cfg.time_zone is not None else "UTC"
        logger.warning(
            "ETL: every one of the %d timestamps published (etl.columns.timestamp) is on a "
            "whole %s %s: the export's clock is that coarse. Features read only the rows "
            "strictly before a row's instant, so rows of one card or merchant in the same %s "
            "do not see each other, windows shorter than a few %ss and time_since_previous "
            "carry little, and velocity means transactions per %s. If the export has finer "
            "times, map that column (etl.columns.timestamp); else this is expected "
            "(timestamp_resolution in the ETL report)",
            n, resolution, zone, resolution, resolution, resolution,
        )  # fmt: skip
    span = metrics["__clock_span_us"] or 0
    if cfg.timestamp_format == "offset_seconds" and n >= _SQUEEZED_ROWS and _squeezed(metrics, cfg):
        logger.warning(
            "ETL: the %d timestamps published (etl.timestamp_format: offset_seconds) all fall "
            "within %.0f second(s) of each other: if the offsets count hours (PaySim's "
            "`step`) or another unit, they are read 3,600 times too close together; set "
            "etl.timestamp_format: offset_hours. If the export does count seconds, this is "
            "expected",
            n, span / 1e6,
        )  # fmt: skip
    return resolution


def _squeezed(metrics: dict, cfg: EtlSection) -> bool:
    """Every offset under an hour: all rows within the first hour after the origin (a
    month of PaySim's hour steps, 1..743, read as seconds). A busy hour of a seconds
    export later than that is no sign (review53b: 1,000 transactions within an hour,
    days after the origin, an hourly delivery of a busy processor, was named on every
    run)."""
    origin = cfg.timestamp_origin
    if origin is None:
        return False
    origin_us = (origin - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
    return (metrics["__clock_max_us"] or 0) - origin_us < _HOUR_US
