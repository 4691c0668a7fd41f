"""Per-entity window features (velocity, amount ratio, time since previous, fraud rates).

All features of one entity (card_id, merchant_id, ...) are compiled over ONE window
specification (partition by the entity, order by the timestamp in microseconds), so
Spark sorts the data once per entity; only the frames differ. Each window function is
built once per stage as a helper column that the features name (fraud_app.features.frames).

Point-in-time rules (t = the current row's timestamp, in microseconds):
  * "window W" means the entity's rows with t - W <= timestamp < t. Rows with the SAME
    timestamp as the current row are never included (a tie is not "before"), so the
    result does not depend on how ties are ordered; include_current adds the current
    row and only it.
  * Sums and counts over [t - W, t) use one of two frame strategies (the feature's
    `frame`, by default chosen by entity). "sliding": a range frame [t - W, t - 1us];
    Spark re-aggregates the rows inside it for every row, cheap when an entity has few
    rows per window (cards), and count, sum and max of one window share the frame.
    "running": the difference of two running sums (frames from unbounded preceding to
    t - 1us and to t - W - 1us), O(1) per row however dense the entity (merchants).
    Max, min and count_distinct (the size of a collect_set: exact, order-free) have no
    running form and always slide.
  * Fraud rates: rows in [t - lag - W, t - lag) in the denominator; in the numerator
    the ones that are known frauds at t (label = 1 and label_known_at <= t, see
    fraud_app.features.labels). Without a label_time column "known at t" is
    timestamp <= t - label_delay, a range again. With label_time it is not a range in
    t: each fraud is counted for t in [max(ts + lag + 1us, known_at), ts + lag + W],
    an interval, so it becomes a +1 event at the start and a -1 event after the end,
    unioned into the same sorted stream, and the numerator is the running sum of
    events up to and including t. One sort still covers everything.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_app.features.aggregations import AGGREGATIONS, with_current
from fraud_app.features.base import FeatureDef
from fraud_app.features.frames import FRAUD, KNOWN, ROW, TS, Frames
from fraud_app.features.labels import MICROS
from fraud_app.features.novelty import Novelty
from fraud_app.features.window_kinds import (
    AmountRatio,
    AmountZScore,
    FraudRate,
    TimeSincePrevious,
    VelocityRatio,
    WindowAggregate,
)

ENTITY_KINDS = (
    WindowAggregate,
    AmountRatio,
    TimeSincePrevious,
    FraudRate,
    AmountZScore,
    VelocityRatio,
    Novelty,
)


def entity_features(
    df: DataFrame,
    entity_column: str,
    features: Sequence[FeatureDef],
    *,
    label_delay_s: int,
    events_source: DataFrame | None = None,
    row_id: str | None = None,
    cluster_by: str | None = None,
) -> DataFrame:
    """df plus one column per feature (raw values; null = undefined), and with fraud
    rates and label_time, one `_ev_<feature>` helper column per rate (null).

    df must carry the helper columns TS, KNOWN, FRAUD and ROW (=1). `events_source`
    (the same rows before earlier stages, cheaper to re-read) feeds the fraud events;
    it defaults to df. Rows whose entity is null get null features; with `row_id` (a
    unique column) each such row is its own window partition instead of all of them
    forming one huge partition of unrelated rows (device_id is null for most POS rows).
    `cluster_by`: for a pair stage (`entity_column` a pair key), the pair's entity column.
    The window then partitions by (cluster_by, key): the same groups of rows as by the
    key alone (a non-null pair key holds the entity's value; a null one gets null
    features), but a table already partitioned by the entity (its own stage) is only
    sorted again, not shuffled.
    """
    entity = F.col(entity_column)
    key = entity
    if row_id is not None:
        key = F.coalesce(entity, F.concat(F.lit("\u0000"), F.col(row_id).cast("string")))
    keys = [key] if cluster_by is None else [F.col(cluster_by), key]
    window = Window.partitionBy(*keys).orderBy(TS)
    frames = Frames(window)
    rates = [f for f in features if isinstance(f, FraudRate)]
    source = events_source if events_source is not None else df
    # the schema of the (small, shared) events source: no schema call on the growing plan
    use_events = bool(rates) and "label_time" in source.columns
    stream = df
    if use_events:
        events = fraud_events(
            source, entity_column, rates, label_delay_s,
            carry=() if cluster_by is None else (cluster_by,),
        )  # fmt: skip
        stream = df.unionByName(events, allowMissingColumns=True)
    columns = []
    defined = entity.isNotNull()
    for feature in features:
        event_column = _event_column(feature) if use_events else None
        expr = _compile(feature, frames, label_delay_s, event_column)
        columns.append(F.when(defined, expr).alias(feature.name))
    out = frames.select(stream, columns)  # the window functions, then the features
    # The event rows go; their `_ev_*` columns (null on data rows) stay until the caller's
    # final select, which names its columns: one DataFrame call (and plan analysis) fewer.
    out = out.where(frames.is_row) if use_events else out
    return out.drop(*frames.names) if frames.names else out


def _compile(
    feature: FeatureDef, frames: Frames, label_delay_s: int, event_column: str | None
) -> Column:
    if isinstance(feature, WindowAggregate):
        return _window_aggregate(feature, frames, feature.lag_s(label_delay_s) * MICROS)
    if isinstance(feature, AmountRatio):
        lag_us = feature.lag_s(label_delay_s) * MICROS
        mean = _mean(frames, feature.column, feature.window_s * MICROS, feature.sliding, lag_us)
        return F.when(mean != 0, F.col(feature.column) / mean)
    if isinstance(feature, AmountZScore):
        return _zscore(feature, frames, feature.lag_s(label_delay_s) * MICROS)
    if isinstance(feature, VelocityRatio):
        return _velocity(feature, frames)
    if isinstance(feature, TimeSincePrevious):
        prev = frames.shared(
            "prev",
            lambda: frames.over(
                F.max(F.when(frames.is_row, F.col(TS))).over(
                    frames.window.rangeBetween(Window.unboundedPreceding, -1)
                )
            ),
        )
        return F.least((F.col(TS) - prev) / F.lit(float(MICROS)), F.lit(float(feature.cap_s)))
    if isinstance(feature, FraudRate):
        return _fraud_rate(feature, frames, label_delay_s, event_column)
    if isinstance(feature, Novelty):
        return _novelty(feature, frames, label_delay_s)
    raise TypeError(f"{type(feature).__name__} is not an entity window feature")


def _mean(frames: Frames, name: str, window_us: int, sliding: bool, lag_us: int = 0) -> Column:
    count, total = _power_sums(frames, name, window_us, sliding, lag_us)
    return F.when(count > 0, total / count)


def _power_sums(frames: Frames, name: str, window_us: int, sliding: bool, lag_us: int):
    """(count, sum) of the non-null `name` in [t - lag - W, t - lag)."""
    value = F.col(name)
    lo, hi = lag_us + window_us, lag_us

    def rs(what: str, expr: Column) -> Column:
        return frames.range_sum(f"{what}:{name}", expr, lo, hi, sliding=sliding)

    count = rs("count", F.when(value.isNotNull(), 1).otherwise(0))
    total = rs("sum", F.coalesce(value, F.lit(0.0)))
    return count, total


def _m2(frames: Frames, name: str, count: Column, lo_us: int, hi_us: int, sliding: bool) -> Column:
    """The sum of squared deviations of the non-null `name` in [t - lo, t - hi) from their
    mean (0 without rows). Never sumsq - sum^2 / n of the raw values: with 40 days of one
    amount, 49.99, that difference of two large numbers left a variance of 6e-13 (a std of
    7.8e-7, a z-score of 3.2e7 for the next amount of 74.99), and at 1e9 a std of 17.

    sliding: Spark's var_pop over the frame (a stable one-pass update: exactly 0 for equal
    values). running: the power sums of value - K, K the entity's first value (its earliest
    row, the smallest value at that time), so the sums hold deviations, not magnitudes
    (equal to K: exactly 0), or of the raw values where their running sum of squares is
    smaller (a first value far from the later ones); what remains within the rounding
    bound of the two running sums it subtracts (8 eps (n + 1) (C2 + |sum| / n sqrt(N C2)),
    n the window's rows, N the rows and C2 the sum of squares up to t - hi) is no spread
    the sums can tell from rounding, and counts as 0."""
    value = F.col(name)
    if sliding:
        spread = frames.sliding(F.var_pop, value, lo_us, hi_us, what=f"var:{name}")
        return F.coalesce(spread * count, F.lit(0.0))
    rows = frames.cum(f"count:{name}", F.when(value.isNotNull(), 1).otherwise(0), hi_us + 1)
    first = frames.shared(f"ref:{name}", lambda: frames.over(_first_value(frames, value), ref=True))
    shifted = value - first
    # Two references, the first value K and 0 (the raw power sums, whose sum is the `sum`
    # component's): each row takes the one whose running sum of squares C2 is smaller, so
    # the more precise (review34: a card whose first amount was 1e6 and then paid ~50 a
    # day had x - K ~ 1e6 on every later row, C2 ~ N 1e12, and its 7-day std of 0.27 read
    # as 0). Both choices look at rows before t - hi only.
    m2, bound, c2 = {}, {}, {}
    for ref, expr in (("d", shifted), ("", value)):
        d1 = frames.range_sum(f"{ref}sum:{name}", F.coalesce(expr, F.lit(0.0)), lo_us, hi_us)
        sq = F.coalesce(expr * expr, F.lit(0.0))
        d2 = frames.range_sum(f"{ref}sumsq:{name}", sq, lo_us, hi_us)
        c2[ref] = frames.cum(f"{ref}sumsq:{name}", sq, hi_us + 1)
        m2[ref] = F.greatest(d2 - d1 * d1 / count, F.lit(0.0))
        # The rounding of the window's difference of two running sums of one sequence: the
        # `count` additions between them, each within eps of the partial sum (<= C2, and
        # the sum's partial sums <= sqrt(N C2)). Not N C2, the entity's whole history: that
        # zeroed real spreads of long histories, and the scoring job's shorter history
        # slice kept them (review34).
        spread = c2[ref] + F.abs(d1) / count * F.sqrt(rows * c2[ref])
        bound[ref] = F.lit(8 * _EPS) * (count + F.lit(1)) * spread
    smaller = c2["d"] <= c2[""]
    chosen = F.when(smaller, m2["d"]).otherwise(m2[""])
    limit = F.when(smaller, bound["d"]).otherwise(bound[""])
    return F.when(count > 0, F.when(chosen > limit, chosen).otherwise(F.lit(0.0))).otherwise(
        F.lit(0.0)
    )


_EPS = 2.0**-53  # the unit roundoff of a double


def _first_value(frames: Frames, value: Column) -> Column:
    """The entity's first non-null value (earliest row; ties: the smallest value), on every
    row of its partition: the same for every frame, so the shifted running sums subtract."""
    pair = F.when(value.isNotNull(), F.struct(F.col(TS).alias("t"), value.alias("v")))
    whole = frames.window.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    return F.min(pair).over(whole).getField("v")


def _zscore(feature: AmountZScore, frames: Frames, lag_us: int) -> Column:
    w_us = feature.window_s * MICROS
    n, total = _power_sums(frames, feature.column, w_us, feature.sliding, lag_us)
    m2 = _m2(frames, feature.column, n, lag_us + w_us, lag_us, feature.sliding)
    std = AGGREGATIONS["std"].finalize({"count": n, "sum": total, "m2": m2})
    mean = total / n
    # "No spread": m2 is exactly 0 for equal values (see _m2); the relative floor stays
    # for spreads far below the amounts' scale.
    spread = std > F.lit(1e-9) * F.greatest(F.abs(mean), F.lit(1.0))
    return F.when((n > 1) & spread, (F.col(feature.column) - mean) / std)


def _velocity(feature: VelocityRatio, frames: Frames) -> Column:
    if feature.aggregation == "count":
        what, expr = "count:*", frames.row
    else:
        what, expr = f"sum:{feature.column}", F.coalesce(F.col(feature.column), F.lit(0.0))
    w_us, b_us = feature.window_s * MICROS, feature.baseline_s * MICROS
    recent = frames.range_sum(what, expr, w_us, 0, sliding=feature.sliding)
    base = frames.range_sum(what, expr, b_us, 0, sliding=feature.sliding)
    ratio = float(feature.baseline_s) / float(feature.window_s)
    return F.when(base > 0, recent * F.lit(ratio) / base)


def _window_aggregate(feature: WindowAggregate, frames: Frames, lag_us: int = 0) -> Column:
    aggregation = AGGREGATIONS[feature.aggregation]
    w_us = feature.window_s * MICROS
    value = F.col(feature.column) if aggregation.needs_column else F.lit(1.0)
    present = frames.is_row if not aggregation.needs_column else value.isNotNull()
    c = feature.column if aggregation.needs_column else "*"
    sliding = feature.sliding
    lo, hi = lag_us + w_us, lag_us
    builders = {
        "count": lambda: frames.range_sum(
            f"count:{c}", F.when(present, F.lit(1)).otherwise(0), lo, hi, sliding=sliding
        ),
        "sum": lambda: frames.range_sum(
            f"sum:{c}", F.coalesce(value, F.lit(0.0)), lo, hi, sliding=sliding
        ),
        # the count is built again: its running sums are memoised, a sliding one is the
        # same expression, which Spark evaluates once per frame
        "m2": lambda: _m2(frames, feature.column, builders["count"](), lo, hi, sliding),
        "max": lambda: frames.sliding(F.max, value, lo, hi, what=c),
        "min": lambda: frames.sliding(F.min, value, lo, hi, what=c),
        "distinct": lambda: frames.sliding(F.collect_set, value, lo, hi, what=c),
    }
    components = {name: builders[name]() for name in aggregation.components}
    if feature.include_current:
        components = with_current(components, value)
    result = aggregation.finalize(components)
    if feature.relative_s is None:
        return result
    base = _mean(frames, feature.column, feature.relative_s * MICROS, sliding)
    return F.when(base != 0, result / base)


def _novelty(feature: Novelty, frames: Frames, label_delay_s: int) -> Column:
    """The row's flag (fraud_app.features.novelty adds the flag columns before the
    stages), or the sum of the flags over [t - lag - W, t - lag)."""
    flag = F.col(feature.flag_column)
    if feature.window_s is None:
        return flag.cast("double")
    lag_us = feature.lag_s(label_delay_s) * MICROS
    hi, lo = lag_us, lag_us + feature.window_s * MICROS
    what = f"sum:{feature.flag_column}"
    expr = F.coalesce(flag, frames.zero)
    return frames.range_sum(what, expr, lo, hi, sliding=feature.sliding).cast("double")


def _fraud_rate(
    feature: FraudRate, frames: Frames, label_delay_s: int, event_column: str | None
) -> Column:
    lag_us = feature.lag_s(label_delay_s) * MICROS
    w_us = feature.window_s * MICROS
    rows = frames.range_sum("rows", frames.row, lag_us + w_us, lag_us)
    if event_column is not None:
        frame = frames.window.rangeBetween(Window.unboundedPreceding, Window.currentRow)
        frauds = frames.over(F.coalesce(F.sum(F.col(event_column)).over(frame), frames.zero))
    else:
        # known_at = ts + delay: known at t iff ts <= t - delay, i.e. ts < t - (delay - 1us)
        hi_us = max(lag_us, label_delay_s * MICROS - 1)
        frauds = frames.range_sum("frauds", F.col(FRAUD), lag_us + w_us, hi_us)
    m, prior = feature.smoothing, feature.prior
    return F.when(rows + F.lit(m) > 0, (frauds + F.lit(m * prior)) / (rows + F.lit(m)))


def fraud_events(
    source: DataFrame,
    entity_column: str,
    rates: Sequence[FraudRate],
    label_delay_s: int,
    *,
    carry: Sequence[str] = (),
) -> DataFrame:
    """+1/-1 event rows (columns entity, `carry`, TS, ROW=0, FRAUD=0, `_ev_<name>`) per
    known fraud. `carry`: more columns of the fraud's row the window partitions by.

    Fraud f counts in rate i at t iff t in [max(ts_f + lag_i + 1us, known_f),
    ts_f + lag_i + W_i]. Event columns are named after the rate feature (`_ev_<name>`);
    data rows leave them null, which sums ignore.
    """
    frauds = source.where((F.col(FRAUD) == 1) & F.col(entity_column).isNotNull())
    names = [_event_column(f) for f in rates]
    zeros = {name: F.lit(0).alias(name) for name in names}  # shared by every struct
    ts, known, one = F.col(TS), F.col(KNOWN), F.lit(1)
    structs = []
    for feature in rates:
        lag_us = feature.lag_s(label_delay_s) * MICROS
        start = F.greatest(ts + F.lit(lag_us + 1), known)
        end = ts + F.lit(lag_us + feature.window_s * MICROS)
        mine = _event_column(feature)
        for when_us, delta in ((start, 1), (end + one, -1)):
            fields = [when_us.alias(TS)] + [
                F.lit(delta).alias(name) if name == mine else zeros[name] for name in names
            ]
            structs.append(F.when(start <= end, F.struct(*fields)))
    keys = [entity_column, *carry]
    exploded = frauds.select(*keys, F.explode(F.array(*structs)).alias("_e"))
    return exploded.where(F.col("_e").isNotNull()).select(
        *keys, "_e.*", F.lit(0).alias(ROW), F.lit(0).alias(FRAUD)
    )


def _event_column(feature: FeatureDef) -> str:
    return f"_ev_{feature.name}"
