"""The age of the unlabelled rows: a label feed that lags behind (`fraud-app labels`).

A transaction is published unlabelled until its label arrives (etl.allow_unlabelled); a
label is expected within features.label_delay_days of the transaction. Unlabelled rows
older than that delay plus validation.canonical.unlabelled_grace_days mean that the label
feed (chargebacks, confirmed-fraud lists) is late or stopped: `validate` says so in one
WARNING line, naming the count and the oldest event_date. Not a check that fails: a
legitimate transaction may never get a label in some feeds.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def lagging_labels(
    df: DataFrame, label_delay_days: float, grace_days: float, now: dt.datetime
) -> str | None:
    """One line when `df` (canonical) holds unlabelled rows older than label_delay_days +
    grace_days before `now` (naive UTC); None otherwise."""
    fmt = "%Y-%m-%d %H:%M:%S"
    cutoff = now - dt.timedelta(days=label_delay_days + grace_days)
    at = F.to_timestamp(F.lit(cutoff.strftime(fmt)))  # session zone: UTC
    late = df.filter(F.col("label").isNull() & (F.col("timestamp") < at))
    n, oldest = late.agg(F.count(F.lit(1)), F.min(F.to_date("timestamp"))).first()
    if not n:
        return None
    return (
        f"label feed lagging: {n} unlabelled row(s) have a timestamp before "
        f"{cutoff.strftime(fmt)} UTC ({now.strftime(fmt)} - features.label_delay_days "
        f"{label_delay_days:g} - validation.canonical.unlabelled_grace_days {grace_days:g}); "
        f"oldest event_date {oldest}. Their labels are overdue: deliver them with "
        "`fraud-app labels FEED`"
    )
