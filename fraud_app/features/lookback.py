"""How far back the window features of a feature set look: the longest of their windows
(+ lag; fraud rates: window + the label delay or their own lag; velocity ratios and
`relative_to`: the baseline; novelty: its lookback + window + lag) and time_since_previous
caps. Read by the timeline (fraud_app.timeline: the warm-up and the dates an incomplete
date reaches) and by the history the scorer and the incremental build read
(fraud_app.scoring.history.history_seconds: this, with nothing added)."""

from __future__ import annotations

from fraud_app.features.encodings import ENCODING_KINDS
from fraud_app.features.novelty import Novelty
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import (
    FraudRate,
    TimeSincePrevious,
    VelocityRatio,
    WindowAggregate,
)


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
