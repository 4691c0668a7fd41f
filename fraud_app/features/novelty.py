"""Novelty: is this value new to the entity, and how many of the entity's recent
transactions were at values new to it ("a payment at a merchant new to this card", "the
card's payments at new merchants in the last 24 hours").

A window over a DERIVED column: first every row gets a flag, then the entity's window
sums the flags (the one feature kind that reads another window's output).

    kind: novelty
    entity: card
    column: merchant_id
    lookback: 30d
    windows: [1h, 24h]      # optional: counts of new-merchant payments

Flag of a row s (entity e, value v = s[column]): 1 when none of e's transactions with a
timestamp in [ts_s - lookback, ts_s) has column == v, else 0; undefined when e or v is
null. Strictly before s, as every window of fraud_app.features.windows: a row with the
same timestamp is not "before", so two simultaneous rows at a new merchant are both new.

Without `window`: the current row's flag (`card_new_merchant_30d`; fill 0.0). With
`window: W` (and an optional `lag`): the number of e's transactions s with t - lag - W <=
ts_s < t - lag whose flag is 1 (`card_new_merchant_30d_count_24h`). Every row it reads is
strictly before t and each flag reads only rows before its own, so nothing at or after t
is used; no labels. Cost: one more sort per (entity, column) pair for the flags, then a
sum in the entity's own stage (sliding or running frame, like window_agg's count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import field_validator, model_validator
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fraud_app.features.base import FeatureDef, model_input
from fraud_app.features.durations import parse_duration
from fraud_app.features.labels import MICROS
from fraud_app.features.windowed import SPARSE_ENTITIES, Lagged, duration_text


class Novelty(Lagged):
    """1 when `column`'s value is new to the entity over `lookback` (strictly before t);
    with `window`, the count of the entity's transactions in [t - lag - window, t - lag)
    whose value was new to it at their own time. See the module docstring."""

    kind: ClassVar[str] = "novelty"
    column: str
    lookback: str = "30d"
    window: str | None = None
    frame: Literal["auto", "sliding", "running"] = "auto"

    _column = field_validator("column")(model_input)
    _lookback = field_validator("lookback", mode="before")(duration_text)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: object) -> str | None:
        return None if value is None else duration_text(value)

    @model_validator(mode="after")
    def _consistent(self) -> Novelty:
        if self.same is not None:
            raise ValueError("novelty takes no `same`: its pair is (entity, column)")
        if self.column == self.entity_column:
            raise ValueError(
                f"column must differ from the entity's column {self.entity_column!r} "
                "(e.g. merchant_id for a card)"
            )
        if self.window is None and self.lag_suffix:
            raise ValueError("lag needs a window: the flag is the current row's own")
        return self

    def inert_keys(self) -> dict[str, str]:
        if self.given("frame") and self.window is None:
            return {
                "frame": "no window is set: frame chooses how the window's count of new "
                "values is computed, and the flag alone has no such window"
            }
        return {}

    @property
    def lookback_s(self) -> int:
        return parse_duration(self.lookback)

    @property
    def window_s(self) -> int | None:
        return None if self.window is None else parse_duration(self.window)

    @property
    def sliding(self) -> bool:
        return self.frame == "sliding" or (self.frame == "auto" and self.entity in SPARSE_ENTITIES)

    def history_s(self, label_delay_s: int) -> int:
        """Seconds before t that the value can depend on."""
        if self.window_s is None:
            return self.lookback_s
        return self.lag_s(label_delay_s) + self.window_s + self.lookback_s

    @property
    def flag_column(self) -> str:
        """The helper column holding each row's flag (shared by every window of it)."""
        return f"_new__{self.entity_column}__{self.column}__{self.lookback_s}"

    @property
    def name(self) -> str:
        short = self.column.removesuffix("_id")
        count = "" if self.window is None else f"_count_{self.window}{self.lag_suffix}"
        return f"{self.entity}_new_{short}_{self.lookback}{count}"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.entity_column, self.column)


def add_novelty_flags(
    df: DataFrame, features: Sequence[FeatureDef], *, row_id: str | None = None
) -> DataFrame:
    """df + one flag column per (entity, column, lookback) of the Novelty `features`
    (1 / 0, null when the entity or the value is null); df unchanged when there are none.

    df must carry the timestamp helper column `_ts` (epoch microseconds). One window per
    (entity, column) pair, partitioned by both; with `row_id` (a unique column) a row whose
    value is null is its own partition, not one huge group of unrelated rows."""
    pairs: dict[tuple[str, str], dict[str, int]] = {}
    for f in features:
        if isinstance(f, Novelty):
            pairs.setdefault((f.entity_column, f.column), {})[f.flag_column] = f.lookback_s
    out = df
    for (entity, column), flags in pairs.items():
        present = F.col(entity).isNotNull() & F.col(column).isNotNull()
        value = F.col(column).cast("string")
        if row_id is not None:
            value = F.when(present, value).otherwise(
                F.concat(F.lit("\u0000"), F.col(row_id).cast("string"))
            )
        window = Window.partitionBy(F.col(entity), value).orderBy("_ts")  # windows.TS
        seen = {
            name: F.count(F.lit(1)).over(window.rangeBetween(-lookback_s * MICROS, -1))
            for name, lookback_s in flags.items()
        }
        out = out.select(
            "*", *[F.when(present, (n == 0).cast("int")).alias(k) for k, n in seen.items()]
        )
    return out
