"""Features of the current row alone (calendar, cross-border, a column's own value, one-hot).

They read nothing but the row itself, so they are point-in-time correct by
construction and cost no shuffle. Calendar parts come from the epoch microseconds,
so they are UTC whatever the Spark session's time zone; a calendar spec's `time_zone`
first moves them onto that zone's clock (`from_utc_timestamp`: the instant's offset
there, DST included; it does not read the session's zone either).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.features.base import FeatureDef
from fraud_app.features.row_kinds import Calendar, ColumnValue, CrossBorder, OneHot
from fraud_app.features.windows import TS

ROWWISE_KINDS = (Calendar, ColumnValue, CrossBorder, OneHot)
_HOUR_US = 3_600 * 1_000_000
_DAY_US = 24 * _HOUR_US


def rowwise_column(feature: FeatureDef) -> Column:
    if isinstance(feature, Calendar):
        return _calendar(feature.part, feature.time_zone)
    if isinstance(feature, CrossBorder):
        here, home = F.col(feature.country), F.col(feature.home_country)
        return F.when(here.isNotNull() & home.isNotNull(), (here != home).cast("double"))
    if isinstance(feature, ColumnValue):
        value = F.col(feature.column).cast("double")
        if feature.transform == "signed_log1p":
            return F.signum(value) * F.log1p(F.abs(value))
        return F.log1p(value) if feature.transform == "log1p" else value
    if isinstance(feature, OneHot):
        value = F.col(feature.column)
        return F.when(
            value.isNotNull(), (value.cast("string") == F.lit(feature.value)).cast("double")
        )
    raise TypeError(f"{type(feature).__name__} is not a row-wise feature")


def _calendar(part: str, time_zone: str | None = None) -> Column:
    clock = F.col(TS)  # epoch microseconds: the UTC clock
    if time_zone is not None:  # the same instant on the zone's wall clock, as epoch micros
        clock = F.unix_micros(F.from_utc_timestamp(F.timestamp_micros(clock), time_zone))
    days = F.floor(clock / F.lit(_DAY_US))
    day_of_week = F.pmod(days + F.lit(3), F.lit(7))  # 1970-01-01 was a Thursday; Monday = 0
    if part == "hour_of_day":
        return F.pmod(F.floor(clock / F.lit(_HOUR_US)), F.lit(24)).cast("double")
    if part == "day_of_week":
        return day_of_week.cast("double")
    if part == "is_weekend":
        return (day_of_week >= 5).cast("double")
    raise ValueError(f"unknown calendar part {part!r}")
