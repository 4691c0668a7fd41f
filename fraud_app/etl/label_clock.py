"""How fine the label_time clock is (`label_time_resolution` in the ETL report), and a
WARNING when it is a clock of days written as midnight timestamps.

A label is known from its label_time on (fraud_app.features.labels: a fraud counts for a
transaction at t when label_time < t). A chargeback system that records only the day a
label arrived, and exports it as that day's midnight (`2024-03-05 00:00:00`, a Parquet
timestamp, pandas' datetime of a date), says the label was known up to a day before it
was: every transaction of the card on that day, before the label really came, counts the
fraud in its fraud-rate features (a leak into training data the scorer never has), and a
fraud of that same day has its label "before" the transaction and is quarantined as
`label_time_before_timestamp` (probe54a). A date written alone (`2024-03-05`, a Parquet
date) is read as the END of its day since review51c (fraud_app.etl.parsing.DAY_END_COLUMNS):
such values count as whole days here and are no cause for the WARNING.

Owns the aggregates (computed as the stage is written, fraud_app.etl.stage_summary) and
what their values mean; not the parsing.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.etl.clock_resolution import COARSE_ROWS, RESOLUTIONS, UNITS
from fraud_app.etl.config import EtlSection

logger = logging.getLogger(__name__)
BEFORE_TIMESTAMP = "label_time_before_timestamp"


def summary_columns(zone: str | None) -> dict[str, Column]:
    """Over the published-bound rows (no reason) with a label_time: their count, the rows
    off a whole second, minute, hour and day of the wall clock in `zone` (a day's last
    microsecond, a date read as its day's end, counted as the next whole day), and the
    rows at exactly midnight."""
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
        "__lt_midnight": F.count(F.when(ok & (wall == F.date_trunc("day", wall)), True)),
    }


def resolution_of(metrics: dict, cfg: EtlSection, quarantined: dict, before: object = None) -> str:
    """The label_time clock's resolution ('sub-second' .. 'day'; '' without a published
    label_time), with a WARNING when it is days written as midnights (from `COARSE_ROWS`
    rows; said once per table: `before`, the last report's value on an append).
    `quarantined`: this run's quarantined rows per reason."""
    n = metrics.get("__lt_rows") or 0
    if not n:
        return ""
    off = [metrics[f"__lt_off_{u}"] for u in UNITS]
    resolution = next((r for r, k in zip(RESOLUTIONS, off, strict=False) if k), "day")
    midnights = metrics["__lt_midnight"] or 0
    if resolution == "day" and midnights and n >= COARSE_ROWS and before != resolution:
        zone = f"in {cfg.time_zone} (etl.time_zone)" if cfg.time_zone is not None else "UTC"
        logger.warning(
            "ETL: every one of the %d label_time values published is a whole day %s, %d of "
            "them written as the day's midnight (00:00:00): a label is known from its "
            "label_time on, so if these are the days labels arrived, each counts as known up "
            "to a day before it was: the transactions of its card earlier that day count "
            "the fraud in their fraud-rate features (a leak the scorer never has), and a "
            "fraud of that same day is quarantined as %s (%d row(s) this run). Deliver "
            "label_time as the date alone (text 2024-03-05, a Parquet date), read as the end "
            "of its day; text with the midnight written out is read so with "
            "etl.label_time_format: \"yyyy-MM-dd' 00:00:00'\" (or \"yyyy-MM-dd'T00:00:00'\"). "
            "If the labels were known at those midnights, this is expected "
            "(label_time_resolution in the ETL report)",
            n, zone, midnights, BEFORE_TIMESTAMP, quarantined.get(BEFORE_TIMESTAMP, 0),
        )  # fmt: skip
    return resolution
