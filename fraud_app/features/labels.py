"""When a label becomes known: the one rule every label-based feature and test shares.

    label_known_at = coalesce(label_time, timestamp + label_delay)

`label_time` is used when the column exists and is set; otherwise a label is taken as
known `label_delay` after the transaction. At time t a past transaction counts as a
KNOWN FRAUD iff label = 1 and label_known_at < t: strictly before t, as the encodings
count frauds known before their period's start (review53b: the windowed fraud rates
counted a label known AT t, `<=`; on a coarse label_time clock, whole minutes or a
date read as its day's end, a label stamped 10:05 counted for a transaction at 10:05:00
though it may have been learnt later in that minute). Nothing else about a label is
visible at t: in particular whether a not-yet-known row is a fraud or not must never
change a feature, so denominators of rates never depend on labels.

A label CORRECTION (`fraud-app labels`: a published 0 -> 1, fraud_app.etl.labels_classify)
sets label_time to when it was learnt, so it enters the rate numerators from then on and
changes nothing before (a 1 -> 0 is not applied: this rule has no retraction).

`as_known_at` builds "the world as known at a cut-off": the rows that happened before
it, with the labels not yet known at it hidden (null label and label_time). Features
computed on it must equal the full-data features for every row before the cut-off;
the point-in-time tests check exactly that.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

MICROS = 1_000_000


def utc_micros_datetime(us: int) -> dt.datetime:
    """Microseconds since the epoch as an aware UTC datetime (exact: no float seconds; a
    collected Spark timestamp would come in the Python process's local zone)."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def ts_micros(column: str = "timestamp") -> Column:
    """Microseconds since the epoch (UTC) as a long: the order key of every window."""
    return F.unix_micros(F.col(column))


def known_at_micros(label_time: Column | None, timestamp: Column, label_delay_s: int) -> Column:
    """When a label is known, in microseconds since the epoch: its label_time, else (null,
    or no label_time column: None) timestamp + the label delay. The one rule; the label
    feed and the ledger compare corrections by it too (fraud_app.etl.ledger.known_at)."""
    fallback = F.unix_micros(timestamp) + F.lit(label_delay_s * MICROS)
    return fallback if label_time is None else F.coalesce(F.unix_micros(label_time), fallback)


def label_known_at_micros(df: DataFrame, label_delay_s: int) -> Column:
    label_time = F.col("label_time") if "label_time" in df.columns else None
    return known_at_micros(label_time, F.col("timestamp"), label_delay_s)


def is_fraud(df: DataFrame) -> Column:
    """1 for label = 1, else 0 (a null / hidden label is not a known fraud)."""
    return (
        F.when(F.col("label") == 1, F.lit(1)).otherwise(F.lit(0))
        if "label" in df.columns
        else F.lit(0)
    )


def as_known_at(df: DataFrame, cutoff: dt.datetime, label_delay_s: int) -> DataFrame:
    """Rows with timestamp < cutoff; labels with label_known_at >= cutoff (not known
    strictly before it) set to null.

    A naive `cutoff` is taken as UTC.
    """
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=dt.UTC)
    cut = F.lit(cutoff).cast("timestamp")
    cut_us = F.unix_micros(cut)
    known = label_known_at_micros(df, label_delay_s) < cut_us
    out = df.where(F.col("timestamp") < cut)
    if "label" in df.columns:
        out = out.withColumn(
            "label", F.when(known, F.col("label")).cast(df.schema["label"].dataType)
        )
    if "label_time" in df.columns:
        out = out.withColumn("label_time", F.when(known, F.col("label_time")))
    return out
