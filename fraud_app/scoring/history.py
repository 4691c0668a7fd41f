"""Point-in-time features for the transactions of some dates, reading only the history
the feature specs need.

The features are computed by the same code as the feature table
(fraud_app.features.compile.compute_features) on the canonical rows from
`start - history` to the end date, then the rows of the requested dates are kept.
`history_seconds` is how far back a feature can look: its window (fraud rates: window +
label delay), a time_since_previous cap, plus the label delay for every label-based one.
Categorical encodings (frequency / target) count ALL earlier transactions, so a spec set
that has them reads the whole history (None) to give the values training saw.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.features.compile import FeatureResult, compute_features
from fraud_app.features.definitions import (
    FraudRate,
    FrequencyEncoding,
    TargetEncoding,
    TimeSincePrevious,
)
from fraud_app.features.spec import FeatureSet
from fraud_app.schema import PARTITION_COLUMN

logger = logging.getLogger(__name__)


def history_seconds(feature_set: FeatureSet) -> int | None:
    """Seconds of history before a row that its features can depend on; None = all."""
    longest = 0
    delay = feature_set.label_delay_s
    for f in feature_set.features:
        if isinstance(f, FrequencyEncoding | TargetEncoding):
            return None
        if isinstance(f, TimeSincePrevious):
            if f.fill_value is not None and f.fill_value != f.cap_s:
                return None  # "no earlier row" and "one older than the cap" differ
            longest = max(longest, f.cap_s)
        elif isinstance(f, FraudRate):
            longest = max(longest, f.window_s + delay)
        elif hasattr(f, "window_s"):
            longest = max(longest, f.window_s)
    return longest + delay


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def history_rows(canonical: DataFrame, start: dt.date, end: dt.date, history_s: int | None):
    """Canonical rows that the features of [start, end] (inclusive dates) can depend on."""
    stop = end + dt.timedelta(days=1)
    rows = canonical.where(F.col(PARTITION_COLUMN) < F.lit(stop))
    rows = rows.where(F.col("timestamp") < F.lit(_midnight(stop)))
    if history_s is None:
        return rows
    first = _midnight(start) - dt.timedelta(seconds=history_s)
    # the partition filter prunes files; the timestamp filter is the exact one
    rows = rows.where(F.col(PARTITION_COLUMN) >= F.lit(first.date() - dt.timedelta(days=1)))
    return rows.where(F.col("timestamp") >= F.lit(first))


def features_for_dates(
    canonical: DataFrame, feature_set: FeatureSet, start: dt.date, end: dt.date
) -> FeatureResult:
    """compute_features over the needed history, restricted to rows dated start..end.

    The result has one column per computed feature and no assembled vector (the caller
    assembles it in the model's order).
    """
    history_s = history_seconds(feature_set)
    logger.info(
        "scoring %s..%s: reading %s of history",
        start, end, "all" if history_s is None else f"{math.ceil(history_s / 86_400)} days",
    )  # fmt: skip
    source = history_rows(canonical, start, end, history_s)
    result = compute_features(source, feature_set, vector_column=None)
    dates = F.col(PARTITION_COLUMN).between(F.lit(start), F.lit(end))
    return FeatureResult(
        df=result.df.where(dates),
        feature_names=result.feature_names,
        skipped=result.skipped,
        vector_column=None,
        label_delay_s=result.label_delay_s,
    )
