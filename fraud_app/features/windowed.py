"""The base of the window kinds: an entity window [t - lag - window, t - lag) and its frame.

Owns the `window` / `lag` vocabulary (durations, "label_delay"), the lagged name suffix and
the frame choice (sliding / running) that every window kind shares. The kinds themselves
live in fraud_app.features.window_kinds and fraud_app.features.novelty; the Spark side in
fraud_app.features.windows.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from fraud_app.features.durations import DURATION_HINT, parse_duration
from fraud_app.features.keyed import Keyed

# Entities with few transactions per window: sliding frames are cheapest for them (see
# windows.py); the others (merchants) use running sums.
SPARSE_ENTITIES: tuple[str, ...] = ("card", "device")
# The columns whose values the exact running sums hold (5 decimals: an amount's minor units,
# a converted amount to a 2,000th of a cent); `frame: auto` slides for the others' sums
# (a probability near 1e-6 rounded to 0 or 1e-5: docs/PROBES.md, session 52 review52e).
EXACT_COLUMNS: tuple[str, ...] = ("amount",)


def duration_text(value: object) -> str:
    parse_duration(value)  # raises ValueError naming the expected form
    return str(value)


LABEL_DELAY = "label_delay"  # a `lag:` value: the feature set's label delay


def lag_text(value: object) -> str | None:
    if value is None or value == LABEL_DELAY:
        return None if value is None else LABEL_DELAY
    # `lag: false` (== 0 in Python) was kept as 'False', and `lag: 0.0` as '0.0': both named
    # the feature `..._lagFalse` and stopped the compiler with a bare ValueError
    if value == "0" or (
        isinstance(value, int | float) and not isinstance(value, bool) and value == 0
    ):
        return "0"
    try:
        parse_duration(value)
    except ValueError:
        raise ValueError(
            f"must be 0, {LABEL_DELAY!r} or {DURATION_HINT}. Received: {value!r}"
        ) from None
    return str(value)


def lag_seconds(lag: str | None, label_delay_s: int) -> int:
    """Seconds a lagged window ends before t: 0, the label delay, or a duration."""
    if lag is None or lag == "0":
        return 0
    return label_delay_s if lag == LABEL_DELAY else parse_duration(lag)


class Lagged(Keyed):
    """A keyed feature whose window may end before t: `lag` None / "0" (it ends at t),
    "label_delay" (it ends one label delay ago: every label in it is settled), or a
    duration ("3d"). A lagged feature's name ends in `_lag<lag>` (`_lagdelay`)."""

    lag: str | None = None

    _lag = field_validator("lag", mode="before")(lag_text)

    def lag_s(self, label_delay_s: int) -> int:
        return lag_seconds(self.lag, label_delay_s)

    @property
    def lag_suffix(self) -> str:
        if self.lag is None or self.lag == "0":
            return ""
        return "_lagdelay" if self.lag == LABEL_DELAY else f"_lag{self.lag}"


class EntityWindow(Lagged):
    """An entity window [t - lag - window, t - lag) (`lag`: see Lagged)."""

    window: str

    _window = field_validator("window", mode="before")(duration_text)

    @property
    def window_s(self) -> int:
        return parse_duration(self.window)

    @property
    def window_name(self) -> str:
        return self.window  # as spelled in the spec: "24h" and "1d" name different features


class FramedWindow(EntityWindow):
    """A window feature built from sums and counts.

    `frame` chooses how Spark computes them, not the value in exact arithmetic: "sliding"
    re-aggregates the rows in the window for every row (cheap when an entity has few
    rows per window, like a card), "running" subtracts two running sums (O(1) per row
    however dense the entity, like a merchant). A running frame sums a non-integer
    column exactly, in 64-bit integers of 1e-5 units (each value rounded to 5 decimals,
    |value| < 9e10; fraud_app.features.frames.exact_value), so its window is the same
    whatever row the sums start at (the scorer's history slice, the table's whole
    history) and does not lose precision as the history grows; a value beyond 9e10, or
    a std's window summing to 1.15e13 or holding 2^34 values, is an error naming the
    feature; include_current adds the row's own value in the same units (session 52 in
    DECIMAL, session 53 in integers; until then the sums were doubles: a dense entity's
    std read 0 after a year of near-equal amounts, session 51's review51a in
    docs/PROBES.md). Five decimals hold an amount (its currency's minor units, a converted
    amount to a 2,000th of a cent), not any column: values near 1e-5 or below (a
    probability, a ratio) lose their digits, a std of values that differ in the 6th
    decimal reads 0. "auto" picks by entity, and slides for the sums, means and stds of
    any column but `amount` (EXACT_COLUMNS; Spark's double aggregates, exact in the same
    way from any start: docs/PROBES.md, session 52 review52e); `frame: running` on such a
    column rounds its values so.
    """

    frame: Literal["auto", "sliding", "running"] = "auto"

    @property
    def sliding(self) -> bool:
        if self.frame != "auto":
            return self.frame == "sliding"
        inexact = any(c not in EXACT_COLUMNS for c in self.numeric_inputs)
        return self.entity in SPARSE_ENTITIES or inexact
