"""What the compiler learns from the data before it compiles the features, in ONE Spark job.

  * which optional input columns hold no value (their features would be constant);
  * the data's time span, first to last timestamp (a window that ends `lag` before t
    holds no row for any row when lag >= span: constant too);
  * per input of a `transform: log1p` feature, the rows log1p cannot take (<= -1:
    Spark's log1p gives null there, which the fill replaces: a refund of -5 read as an
    amount of 0);
  * per encoded column (frequency / target encodings), its distinct (date, value) pairs,
    approximately: what a snapshot encoding table's size is estimated from
    (fraud_app.features.encodings.estimated_rows).

fraud_app.features.compile decides what to skip and warn about from this profile; this
module only counts, and says in words what a lag beyond the data or a log1p below its
domain means. `check_log1p_bounds` is the same log1p rule against the ETL's amount bounds,
before Spark starts (fraud_app.features.pipeline.check_feature_specs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.errors import FeatureSpecError
from fraud_app.features.base import FeatureDef
from fraud_app.features.encoding_kinds import FrequencyEncoding, TargetEncoding
from fraud_app.features.labels import MICROS, ts_micros, utc_micros_datetime
from fraud_app.features.row_kinds import ColumnValue
from fraud_app.features.window_kinds import FraudRate
from fraud_app.schema import PARTITION_COLUMN, REQUIRED_COLUMNS

logger = logging.getLogger(__name__)
_DAY_S = 86_400
_NULL = "\u0000null"  # a null value among the (date, value) pairs: the tables' null key


@dataclass(frozen=True)
class ProfileAsk:
    """What a profile counts: which of `nullable` hold no value, the first and last
    timestamp (when `span`), per column of `log1p` its rows <= -1 and its minimum, per
    column of `distinct` its distinct (date, value) pairs (`row_date`)."""

    nullable: tuple[str, ...] = ()
    log1p: tuple[str, ...] = ()
    span: bool = False
    distinct: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.nullable and not self.log1p and not self.span and not self.distinct


def profile_ask(columns: Sequence[str], features: Sequence[FeatureDef], span: bool) -> ProfileAsk:
    """What the skips read of a table with `columns`: its optional inputs (and label_time,
    for fraud rates), its log1p inputs and, when a window has a lag (`span`), its span;
    and what sizes the encodings' tables: the encoded columns' (date, value) pairs."""
    present = set(columns)
    optional = {c for f in features for c in f.inputs if c in present}
    if any(isinstance(f, FraudRate) for f in features) and "label_time" in present:
        optional.add("label_time")
    return ProfileAsk(
        tuple(sorted(optional - set(REQUIRED_COLUMNS))),
        tuple(c for c in log1p_inputs(features) if c in present),
        span,
        tuple(sorted({f.column for f in features if isinstance(f, _ENCODED)} & present)),
    )


_ENCODED = (FrequencyEncoding, TargetEncoding)  # = fraud_app.features.encodings.ENCODING_KINDS


@dataclass(frozen=True)
class DataProfile:
    rows: int = 0
    all_null: frozenset[str] = frozenset()
    first_us: int | None = None  # first and last timestamp, epoch microseconds
    last_us: int | None = None
    below_log1p: dict[str, tuple[int, float]] = field(default_factory=dict)  # col: (rows, min)
    asked: ProfileAsk | None = None  # what it answers (None: nothing was asked)
    # per encoded column, its distinct (date, value) pairs (`row_date`), null a value
    # (HyperLogLog++, ~5 % error a count): about a daily snapshot encoding table's rows
    # (features.encodings; its periods are UTC days, a date is a UTC day in the ETL's tables)
    value_days: dict[str, int] = field(default_factory=dict)

    @property
    def span_us(self) -> int | None:
        if self.first_us is None or self.last_us is None:
            return None
        return self.last_us - self.first_us

    def span_text(self) -> str:
        first, last = (_date(us) for us in (self.first_us, self.last_us))
        return f"{(self.span_us or 0) / MICROS / _DAY_S:.2f} days, {first} .. {last}"


def _date(us: int | None) -> str:
    if us is None:
        return "-"
    return utc_micros_datetime(us).isoformat(sep=" ", timespec="seconds")[:19]


def _log1p_features(features: Sequence[FeatureDef]) -> list[ColumnValue]:
    """The `transform: log1p` features (not signed_log1p: defined everywhere)."""
    return [f for f in features if isinstance(f, ColumnValue) and f.transform == "log1p"]


def log1p_inputs(features: Sequence[FeatureDef]) -> list[str]:
    """The columns a `transform: log1p` feature reads, each once."""
    return list(dict.fromkeys(f.column for f in _log1p_features(features)))


def row_date(columns: Sequence[str]) -> Column:
    """A row's date: its event_date, else its timestamp's date (in the session time zone).
    The value counts' pass groups by it (fraud_app.features.value_counts) and the (date,
    value) pairs are of it, so that each pair lies in one group and the groups' counts sum
    to the table's (pairs of the UTC day, when a date was not one, fell in two groups and
    were counted twice: review43c)."""
    return F.col(PARTITION_COLUMN) if PARTITION_COLUMN in columns else F.to_date("timestamp")


def data_profile(df: DataFrame, ask: ProfileAsk) -> DataProfile:
    """The profile of `df` in one job (what `ask` asks). No job when it asks nothing."""
    if ask.empty:
        return DataProfile()
    parts = _partials(ask, row_date(df.columns))
    aggs = [F.count(F.lit(1)).alias("_rows")]
    aggs += [agg(F.col(name)).alias(name) for name, _, _, agg in parts]
    return profile_of(ask, [df.select(*[c.alias(n) for n, c, _, _ in parts]).agg(*aggs).first()])


def _partials(ask: ProfileAsk, day: Column | None = None) -> list[tuple[str, Column, str, object]]:
    """(name, per-row column, its type, aggregate) of each count `ask` asks for (`day`: the
    rows' `row_date`; None where only the names and aggregates are read): the aggregates
    of a grouping of the rows by `day` combine into the table's (profile_of)."""
    out = [(f"n{i}", F.col(c).isNotNull().cast("long"), "long", F.sum)
           for i, c in enumerate(ask.nullable)]  # fmt: skip
    if ask.span:
        out += [("_first", ts_micros(), "long", F.min), ("_last", ts_micros(), "long", F.max)]
    for i, c in enumerate(ask.log1p):
        value = F.col(c).cast("double")
        out += [(f"b{i}", (value <= -1).cast("long"), "long", F.sum),
                (f"m{i}", value, "double", F.min)]  # fmt: skip
    date = F.coalesce(F.lit(None) if day is None else day.cast("string"), F.lit(_NULL))
    for i, c in enumerate(ask.distinct):
        pair = F.concat_ws("\u0001", date, F.coalesce(F.col(c).cast("string"), F.lit(_NULL)))
        out.append((f"d{i}", pair, "string", F.approx_count_distinct))
    return out


def profile_fields(ask: ProfileAsk, day: Column, rows: bool = True) -> list[Column]:
    """The per-row fields of a profile grouped by `day` (the rows' `row_date`) (`rows`; else
    typed nulls: rows of another kind in the same grouping), aggregated by
    `profile_aggregates`."""
    return [(c if rows else F.lit(None).cast(t)).alias(n) for n, c, t, _ in _partials(ask, day)]


def profile_aggregates(ask: ProfileAsk) -> list[Column]:
    """The aggregates of `profile_fields` per group (besides its rows, counted by the caller
    as `_rows`), which profile_of combines."""
    return [agg(F.col(n)).alias(n) for n, _, _, agg in _partials(ask)]


def profile_of(ask: ProfileAsk, groups: Sequence) -> DataProfile:
    """The profile of the rows of `groups` (rows with `_rows` and profile_aggregates' fields,
    each a disjoint part of the table): Spark's figures for the whole, as data_profile's
    one aggregation gives them (its min of doubles puts NaN above every number)."""
    groups = [g for g in groups if g is not None]
    rows = sum(int(g["_rows"]) for g in groups)
    if rows == 0:
        return DataProfile(asked=ask)

    def combined(name: str, pick):
        values = [g[name] for g in groups if g[name] is not None]
        return pick(values, key=lambda v: (v != v, v)) if values else None  # NaN: largest

    def total(name: str) -> int:
        return sum(int(g[name] or 0) for g in groups)

    below = {c: (total(f"b{i}"), combined(f"m{i}", min)) for i, c in enumerate(ask.log1p)}
    return DataProfile(
        rows=rows,
        all_null=frozenset(c for i, c in enumerate(ask.nullable) if total(f"n{i}") == 0),
        first_us=combined("_first", min) if ask.span else None,
        last_us=combined("_last", max) if ask.span else None,
        below_log1p={c: v for c, v in below.items() if v[0]},
        asked=ask,
        value_days={c: total(f"d{i}") for i, c in enumerate(ask.distinct)},
    )


def lag_beyond_data(lag_s: int, profile: DataProfile) -> bool:
    """Whether a window ending `lag_s` before t holds no row for any row of the data: the
    last row's window ends at last - lag, at or before the first row (lag >= the span)."""
    span = profile.span_us
    return lag_s > 0 and span is not None and span <= lag_s * MICROS


def lag_reason(lag_s: int, lag: str | None, profile: DataProfile) -> str:
    said = "the label delay" if lag in (None, "label_delay") else lag
    return (
        f"its lag ({said}: {lag_s / _DAY_S:g} days) is not shorter than the data's span "
        f"({profile.span_text()}): its window ends before the first row, so it is the fill "
        "on every row"
    )


def warn_log1p_below_domain(features: Sequence[FeatureDef], profile: DataProfile) -> None:
    """ONE warning naming each log1p feature whose input holds values <= -1 (refunds):
    log1p is undefined there, so those rows get the feature's fill."""
    parts = []
    for f in _log1p_features(features):
        if f.column in profile.below_log1p:
            n, low = profile.below_log1p[f.column]
            parts.append(f"{f.name} ({n:,} of {profile.rows:,} rows, min {low:g}: written as the "
                         f"fill {f.fill:g})")  # fmt: skip
    if parts:
        logger.warning(
            "%d log1p feature(s) read values <= -1, where log1p is undefined: %s. A column "
            "with negative values (refunds) wants `transform: signed_log1p` (sign(x) * "
            "log1p(|x|): the same value as log1p for every x >= 0)",
            len(parts), "; ".join(parts),
        )  # fmt: skip


def check_log1p_bounds(features: Sequence[FeatureDef], min_amount: float) -> None:
    """Before Spark: a log1p of `amount` when the ETL keeps amounts down to `min_amount`
    <= -1 (etl.bounds.min_amount, refunds) is refused: those rows would be the fill, the
    value of a zero amount."""
    if min_amount > -1:
        return
    for f in _log1p_features(features):
        if f.column == "amount":
            raise FeatureSpecError(
                f"feature {f.name!r} (column, transform log1p) takes log1p of amount, but "
                f"etl.bounds.min_amount is {min_amount:g}: the ETL keeps amounts down to it "
                "(refunds), and log1p of an amount <= -1 is undefined (such a row would get "
                f"the fill {f.fill:g}, the value of a zero amount). Use `transform: "
                "signed_log1p` (sign(x) * log1p(|x|), the same value for every amount >= 0; "
                f"the feature is then named {f.column}_signed_log1p), or set "
                "etl.bounds.min_amount above -1"
            )
