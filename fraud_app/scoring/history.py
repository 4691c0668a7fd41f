"""Point-in-time features for the transactions of some dates, reading only the history
the feature specs need.

The features are computed by the same code as the feature table
(fraud_app.features.compile.compute_features) on the canonical rows from
`start - history` to the end date, then the rows of the requested dates are kept.
`history_seconds` is how far back a window feature can look: its window (+ its lag;
fraud rates: window + the longer of the label delay and their lag; velocity and relative_to: the baseline; novelty: its
lookback + window + lag), a time_since_previous cap (fraud_app.features.lookback); also
for `frame: running` sums, means, stds, z-scores, amount ratios and velocity ratios of
sums, whose running sums are exact (64-bit integers of 1e-5 units since session 53,
DECIMALs in 52), the same from a slice as from all history (session 52; until then
doubles, read over all history: docs/PROBES.md, session 51). No
label delay on top: a label is a column of its own row, so a fraud counts at t only when
its row is inside the window, whenever its label became known (docs/PROBES.md, session
44, incr44b: the delay added was a day of rows read for nothing in every incremental
build of 1-day-delay specs, 7 days of 44 in the shipped specs'). Categorical encodings (frequency /
target) count ALL earlier transactions: they are aggregated over the whole history
(a groupBy, no sort), while the window features, which sort their rows, read only
their own history; both give the values training saw.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.features.compile import FeatureResult, compute_features
from fraud_app.features.encodings import ENCODING_KINDS
from fraud_app.features.lookback import lookback_seconds
from fraud_app.features.spec import FeatureSet
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.dates import date_literal, timestamp_literal
from fraud_app.timeline import (
    NEIGHBOURS,
    RATIO_SETTING,
    ThinDay,
    day_counts,
    describe_days,
    history_start,
    shifted,
    thin_days,
)

logger = logging.getLogger(__name__)


def history_seconds(feature_set: FeatureSet, *, encodings: bool = True) -> int | None:
    """Seconds of history before a row that its features can depend on; None = all.

    encodings=False: of the features other than the categorical encodings (those count
    all earlier rows: with them the answer is None). The lookback itself: every row a
    feature of t reads, its label included, has a timestamp >= t - lookback (a fraud known
    late counts from when it is known, but only while its own row is in the window). The
    one rule for the scorer and the incremental build. `frame: running` sums of
    non-integer values are exact (integers of 1e-5, fraud_app.features.frames.exact_value), so
    their windows are the same from this slice as from all history (until session 52
    they were doubles and this was None for them: docs/PROBES.md, sessions 51 and 52)."""
    return lookback_seconds(feature_set, encodings=encodings)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def history_rows(canonical: DataFrame, start: dt.date, end: dt.date, history_s: int | None):
    """Canonical rows that the features of [start, end] (inclusive dates) can depend on.
    Dates at the ends of the calendar (0001-01-01, 9999-12-31) leave that bound open."""
    rows = canonical
    if end < dt.date.max:
        stop = end + dt.timedelta(days=1)
        rows = rows.where(F.col(PARTITION_COLUMN) < date_literal(stop))
        rows = rows.where(F.col("timestamp") < timestamp_literal(_midnight(stop)))
    if history_s is None:
        return rows
    try:
        first = _midnight(start) - dt.timedelta(seconds=history_s)
        before = first.date() - dt.timedelta(days=1)
    except OverflowError:  # the history reaches before year 1: all of it
        return rows
    # the partition filter prunes files; the timestamp filter is the exact one
    rows = rows.where(F.col(PARTITION_COLUMN) >= date_literal(before))
    return rows.where(F.col("timestamp") >= timestamp_literal(first))


def features_for_dates(
    canonical: DataFrame, feature_set: FeatureSet, start: dt.date, end: dt.date
) -> FeatureResult:
    """compute_features over the needed history, restricted to rows dated start..end.

    The result has one column per computed feature and no assembled vector (the caller
    assembles it in the model's order).
    """
    history_s = history_seconds(feature_set, encodings=False)
    encodings = any(isinstance(f, ENCODING_KINDS) for f in feature_set.features)
    logger.info(
        "scoring %s..%s: reading %s of history%s",
        start, end, "all" if history_s is None else f"{math.ceil(history_s / 86_400)} days",
        " (the categorical encodings: all of it)" if encodings and history_s is not None else "",
    )  # fmt: skip
    source = history_rows(canonical, start, end, history_s)
    # every row up to `end`: the encodings' counts and the skips (an input null in every
    # row, fraud rates when no label_time is set) are judged on it, as the feature step
    # judged the whole table; judged on the slice, specs without encodings lost a rate the
    # model reads when the slice held no label_time (docs/PROBES.md, session 44, review44e)
    whole = history_rows(canonical, start, end, None) if history_s is not None else None
    # a slice of the table: a lag longer than it is history not read (the table's first
    # days), not a constant feature; the feature step judged the whole table
    result = compute_features(
        source, feature_set, vector_column=None, whole_history=whole, skip_lags_beyond_data=False
    )
    dates = F.col(PARTITION_COLUMN).between(date_literal(start), date_literal(end))
    return FeatureResult(
        df=result.df.where(dates),
        feature_names=result.feature_names,
        skipped=result.skipped,
        vector_column=None,
        label_delay_s=result.label_delay_s,
    )


@dataclass(frozen=True)
class HistoryTimeline:
    """What the history of some dates' window features holds (`history_timeline`)."""

    lookback_days: float
    first: dt.date  # the first date that history reads
    thin: tuple[ThinDay, ...]  # its incomplete dates
    data_starts: dt.date | None  # the table's first date, when after `first` (warm-up)
    ratio: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "lookback_days": self.lookback_days,
            "from": self.first.isoformat(),
            "incomplete_dates": [t.to_dict() for t in self.thin],
            "data_starts": self.data_starts.isoformat() if self.data_starts else None,
            "min_day_volume_ratio": self.ratio,
        }


def history_timeline(
    canonical: DataFrame, feature_set: FeatureSet, start: dt.date, end: dt.date, ratio: float,
    rows_per_date: Callable[[dt.date, dt.date], dict[dt.date, int] | None] | None = None,
) -> HistoryTimeline | None:  # fmt: skip
    """The incomplete dates (fraud_app.timeline.thin_days at `ratio`) in the history the
    window features of start..end read, and the table's first date when that history
    reaches before it (the warm-up); None when the specs look back over all of it. The
    rows per date of that history (+ a week either side, for the usual volume):
    `rows_per_date(first, last)` when given and it knows them (the scorer's: from the
    Parquet footers, no Spark job), else one Spark aggregation."""
    lookback = lookback_seconds(feature_set, encodings=False)
    if lookback is None:
        return None
    first = history_start(start, lookback)
    pad = dt.timedelta(days=NEIGHBOURS)
    lo, hi = shifted(first, -pad), shifted(end, pad)
    counts = rows_per_date(lo, hi) if rows_per_date is not None else None
    if counts is None:
        day = F.col(PARTITION_COLUMN)
        counts = day_counts(canonical.where(day.between(date_literal(lo), date_literal(hi))))
    held = [d for d, n in counts.items() if n]
    starts = min(held) if held else None
    return HistoryTimeline(
        lookback_days=round(lookback / 86_400, 3),
        first=first,
        thin=tuple(thin_days(counts, ratio, within=(first, end))),
        data_starts=starts if starts is not None and starts > first else None,
        ratio=ratio,
    )


def warn_history(step: str, start: dt.date, end: dt.date, history: HistoryTimeline | None) -> None:
    """One WARNING naming the incomplete dates of `history_timeline` and the warm-up."""
    if history is None or not (history.thin or history.data_starts):
        return
    parts = []
    if history.thin:
        parts.append(
            f"holds {len(history.thin)} incomplete date(s) (fewer rows than {RATIO_SETTING} "
            f"{history.ratio:g} x the usual): {describe_days(list(history.thin))}"
        )
    if history.data_starts:
        parts.append(
            f"reaches before the canonical table's first date {history.data_starts} (the "
            "warm-up: no history before it)"
        )
    logger.warning(
        "%s %s..%s: the history its window features read (%g days, from %s) %s; their counts, "
        "sums and rates over those dates are lower than what happened, so the %s of these "
        "dates may differ from those of complete data. Deliver the missing rows (`fraud-app "
        "etl`, etl.mode: append) and %s them again; `history` in the summary lists the dates",
        step, start, end, history.lookback_days, history.first, "; it ".join(parts),
        "scores" if step == "score" else "figures", step,
    )  # fmt: skip
