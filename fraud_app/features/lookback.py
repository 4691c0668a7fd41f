"""How far back the window features of a feature set look: the longest of their windows
(+ lag; fraud rates: window + the label delay or their own lag; velocity ratios and
`relative_to`: the baseline; novelty: its lookback + window + lag) and time_since_previous
caps. Read by the timeline (fraud_app.timeline: the warm-up and the dates an incomplete
date reaches) and by the history the scorer and the incremental build read
(fraud_app.scoring.history.history_seconds: this, with nothing added)."""

from __future__ import annotations

from fraud_app.features.aggregations import AGGREGATIONS
from fraud_app.features.encodings import ENCODING_KINDS
from fraud_app.features.novelty import Novelty
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import (
    AmountRatio,
    AmountZScore,
    FraudRate,
    TimeSincePrevious,
    VelocityRatio,
    WindowAggregate,
)
from fraud_app.features.windowed import FramedWindow


def lookback_seconds(feature_set: FeatureSet, *, encodings: bool = True) -> int | None:
    """The longest window a feature looks back over (its window, lag and baseline): no row
    older than t - this reaches a feature of t; None = all of the history."""
    longest = 0
    delay = feature_set.label_delay_s
    for f in feature_set.features:
        if isinstance(f, ENCODING_KINDS):
            if encodings:
                return None
            continue
        if isinstance(f, TimeSincePrevious):
            if f.fill_value is not None and f.fill_value != f.cap_s:
                return None  # "no earlier row" and "one older than the cap" differ
            longest = max(longest, f.cap_s)
        elif isinstance(f, VelocityRatio):
            longest = max(longest, f.baseline_s)  # the longer of its two windows
        elif isinstance(f, FraudRate):
            longest = max(longest, f.window_s + max(delay, f.lag_s(delay)))
        elif isinstance(f, Novelty):  # the window's rows, each with its own lookback
            longest = max(longest, f.history_s(delay))
        elif isinstance(f, WindowAggregate) and f.relative_s is not None:
            longest = max(longest, f.window_s + f.lag_s(delay), f.relative_s)  # + its baseline
        elif hasattr(f, "window_s"):
            longest = max(longest, f.window_s + (f.lag_s(delay) if hasattr(f, "lag_s") else 0))
    return longest


def running_float_features(feature_set: FeatureSet) -> list[str]:
    """The features that subtract two running sums of a non-integer value (a `frame:
    running` sum / mean / std of a column, amount ratio, z-score, a velocity ratio of
    sums, a `relative_to` baseline): their last bits depend on where the sums start
    (docs/PROBES.md, session 26), so a slice of history gives them other bits than
    the whole table. Counts (integers) are exact from any start."""
    names = []
    for f in feature_set.features:
        if not isinstance(f, FramedWindow) or f.sliding:
            continue
        if isinstance(f, WindowAggregate):
            sums = {"sum", "m2"} & set(AGGREGATIONS[f.aggregation].components)
            if sums or f.relative_s is not None:
                names.append(f.name)
        elif isinstance(f, AmountRatio | AmountZScore) or (
            isinstance(f, VelocityRatio) and f.aggregation != "count"
        ):
            names.append(f.name)
    return names
