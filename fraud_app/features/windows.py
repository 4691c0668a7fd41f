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
    t - 1us and to t - W - 1us), O(1) per row however dense the entity (merchants); sums
    of a non-integer value (and of its squares, for a std) are exact 64-bit integer limbs
    of 1e-5 units (fraud_app.features.frames.exact_value, LIMBS), so the difference is the window's exact sum
    whatever row the running sums start at, and a std is computed from them without
    cancellation (`_exact_m2`): the scorer's history slice gives the table's bits.
    Max, min and count_distinct (the size of a collect_set: exact, order-free) have no
    running form and always slide.
  * Fraud rates: rows in [t - lag - W, t - lag) in the denominator; in the numerator
    the ones that are known frauds at t (label = 1 and label_known_at < t, see
    fraud_app.features.labels). Without a label_time column "known at t" is
    timestamp < t - label_delay, a range again. With label_time it is not a range in
    t: each fraud is counted for t in [max(ts + lag, known_at) + 1us, ts + lag + W],
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
from fraud_app.features.frames import (
    FRAUD,
    KNOWN,
    LIMB,
    MASK,
    ROW,
    TS,
    UNITS,
    Frames,
    overflow_checks,
    window_fits,
)
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
    helpers: str = "_w_",
    drop_helpers: bool = True,
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
    sorted again, not shuffled. `helpers`: the prefix of the stage's helper columns, one
    no column of df begins with (fraud_app.features.frames.helper_prefix).
    `drop_helpers`: False leaves the stage's helper columns (the window functions the
    features read) in the result, for a caller whose later select names its columns and
    whose later stages use other prefixes (the compiler: a `drop` is one more analysis
    of the whole grown plan, ~10-40 ms a stage).
    """
    entity = F.col(entity_column)
    key = entity
    if row_id is not None:
        key = F.coalesce(entity, F.concat(F.lit("\u0000"), F.col(row_id).cast("string")))
    keys = [key] if cluster_by is None else [F.col(cluster_by), key]
    window = Window.partitionBy(*keys).orderBy(TS)
    frames = Frames(window, prefix=helpers)
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
    exprs, readers = [], {}
    for feature in features:
        event_column = _event_column(feature) if use_events else None
        read = len(frames.exact_reads)
        exprs.append(_compile(feature, frames, label_delay_s, event_column))
        for name, kind, total, count, dropped in frames.exact_reads[read:]:
            key = (name, kind, str(total), str(count))
            reads = (name, kind, total, count, dropped)
            readers.setdefault(key, ([], reads))[0].append(feature.name)
    # each overflow check once per row, on the first feature that reads it, naming every
    # feature that does (a check per feature and read made the stage 2x slower)
    guards: dict[str, list] = {}
    checked: set[str] = set()
    for names, read in readers.values():
        owner = names[0]
        for condition, message in overflow_checks(", ".join(dict.fromkeys(names)), [read]):
            text = str(condition)
            if text not in checked:
                checked.add(text)
                guards.setdefault(owner, []).append((condition, message))
    columns = []
    defined = entity.isNotNull()
    for feature, expr in zip(features, exprs, strict=True):
        for condition, message in guards.get(feature.name, ()):
            expr = F.when(condition, F.raise_error(message)).otherwise(expr)
        columns.append(F.when(defined, expr).alias(feature.name))
    out = frames.select(stream, columns)  # the window functions, then the features
    # The event rows go; their `_ev_*` columns (null on data rows) stay until the caller's
    # final select, which names its columns: one DataFrame call (and plan analysis) fewer.
    out = out.where(frames.is_row) if use_events else out
    return out.drop(*frames.names) if frames.names and drop_helpers else out


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
    if sliding:
        total = rs("sum", F.coalesce(value, F.lit(0.0)))
    else:
        total = _exact_sum(frames, name, lo, hi)
    return count, total


def _exact_sum(
    frames: Frames, name: str, lo_us: int, hi_us: int, *, current: bool = False
) -> Column:
    """The sum of the non-null `name` in [t - lo, t - hi) on a running frame, from the
    exact running sums (fraud_app.features.frames.exact_value: LONG units of 1e-5), as a
    double: the same bits whatever row the running sums start at. `current`: plus the
    row's own value, in the same units (include_current)."""
    frames.exact_read(name, "sum", frames.zero)
    return _window_units(frames, name, lo_us, hi_us, current) / F.lit(float(UNITS))


def _exact_limb(frames: Frames, name: str, limb: str, lo_us: int, hi_us: int, current: bool):
    """The window's exact sum of one limb, plus the row's own term with `current`."""
    total = frames.exact_range(name, limb, lo_us, hi_us)
    return total + frames.exact_now(name, limb) if current else total


def _window_units(
    frames: Frames, name: str, lo_us: int, hi_us: int, current: bool = False
) -> Column:
    """The window's exact sum of `name` in units, A 2^26 + B, as a double: A 2^26 and B
    are exact doubles (while |A| < 2^53 and the window holds < 2^27 values), their sum is
    the exact sum rounded once. `current`: the row's own value included."""
    a = _exact_limb(frames, name, "a", lo_us, hi_us, current)
    b = _exact_limb(frames, name, "b", lo_us, hi_us, current)
    return a.cast("double") * F.lit(float(1 << LIMB)) + b.cast("double")


def _m2(
    frames: Frames, name: str, count: Column, lo_us: int, hi_us: int, sliding: bool,
    current: bool = False,
) -> Column:  # fmt: skip
    """The sum of squared deviations of the non-null `name` in [t - lo, t - hi) from their
    mean (0 without rows). Never sumsq - sum^2 / n of the raw values in double: with 40
    days of one amount, 49.99, that difference of two large numbers left a variance of
    6e-13 (a std of 7.8e-7, a z-score of 3.2e7 for the next amount of 74.99).

    sliding: Spark's var_pop over the frame (a stable one-pass update: exactly 0 for equal
    values). running: `_exact_m2`, from the window's exact sums (`current`: and the row's
    own value, include_current; `count` counts it then)."""
    value = F.col(name)
    if sliding:
        spread = frames.sliding(F.var_pop, value, lo_us, hi_us, what=f"var:{name}")
        return F.coalesce(spread * count, F.lit(0.0))
    return _exact_m2(frames, name, count, lo_us, hi_us, current)


def _exact_m2(
    frames: Frames, name: str, n: Column, lo_us: int, hi_us: int, current: bool = False
) -> Column:
    """m2 of a running frame from the window's exact sums, in 64-bit integer arithmetic
    (session 53, fast53). With u the values in units of 1e-5 (`frames.exact_value`) and
    the window's S1 = sum u, S2 = sum u^2 (exact LONG limbs, `frames.LIMBS`: the same
    whatever row the running sums start at, so the value is too): around the integer
    c = rint(S1 / n), D1 = S1 - n c (|D1| <= ~n / 2) and D2 = sum (u - c)^2 = S2 - c (S1 +
    D1) exactly, in limbs of 26 bits with their carries; m2 = (D2 - D1^2 / n) / 1e10 in
    double, D2 rounded to a double at most twice (2 ulp) and D1^2 / n <= ~n / 4: no
    cancellation beyond that of the spread against 1/4 unit^2; equal values: exactly 0
    (the m2 of integers that are not all equal is >= 1/2). The window's |S1| < 2^60 units
    (1.15e13) and < 2^34 values (else the feature's error, `frames.overflow_checks`) keep
    every product and sum within 63 bits, under ANSI on and off.

    Until session 52 the running sums were doubles: a window's value depended on where
    they started (the scorer's slice vs the table's whole history) and a dense entity's
    std lost its digits as the history grew (0 after a year of near-equal amounts,
    docs/PROBES.md, session 51 review). Session 52 summed DECIMALs and computed D2 in
    DECIMAL (java BigDecimal: the window stage 6.8x the double sums, docs/BENCHMARKS.md)."""

    def limb(part: str) -> Column:
        return _exact_limb(frames, name, part, lo_us, hi_us, current)

    def lit(v: int) -> Column:
        return F.lit(v).cast("long")

    def hi(v: Column) -> Column:
        return F.shiftright(v, LIMB)

    def lo(v: Column) -> Column:
        return v.bitwiseAND(lit(MASK))

    def step(level: int, what: str, build) -> Column:  # one column per step and window
        return frames.derive(level, f"m2:{what}:{name}:{lo_us}:{hi_us}:{current}", build)

    s1_double = _window_units(frames, name, lo_us, hi_us, current)
    frames.exact_read(name, "window", s1_double, n)
    fits = window_fits(s1_double, n)
    # past the limit the feature fails (its check); the sums and c read 0 here, so that
    # no product overflows (and raises Spark's error without the feature's name) first:
    # the derived steps run before the check. A window can jump past 2^63 units at once
    # (1,100 values of 8.9e10 at one timestamp: the next row's window), where n c from
    # the unguarded c overflowed under ANSI on (review53f)
    a = step(0, "a", lambda: F.when(fits, limb("a")).otherwise(lit(0)))
    b = step(0, "b", lambda: F.when(fits, limb("b")).otherwise(lit(0)))
    n_long = n.cast("long")
    one = F.greatest(n, F.lit(1)).cast("double")
    c = step(0, "c", lambda: F.when(fits, F.rint(s1_double / one).cast("long")).otherwise(lit(0)))
    c1, c0 = hi(c), lo(c)
    # D1 = (A - n c1) 2^26 + (B - n c0): every term < 2^61; |D1| small
    d1 = step(1, "d1", lambda: (a - n_long * c1) * lit(1 << LIMB) + (b - n_long * c0))
    e = step(2, "e", lambda: a * lit(1 << LIMB) + b + d1)  # S1 + D1, |e| < 2^62
    e2, e1, e0 = F.shiftright(e, 2 * LIMB), lo(hi(e)), lo(e)
    # D2 = S2 - c e, limb by limb (weights 2^78, 2^52, 2^26, 1), each < 2^63
    k3 = step(3, "k3", lambda: limb("aa_hi") - c1 * e2)
    k2 = step(3, "k2", lambda: limb("aa_lo") + lit(2) * limb("ab_hi") - c1 * e1 - c0 * e2)
    k1 = step(3, "k1", lambda: lit(2) * limb("ab_lo") + limb("bb_hi") - c1 * e0 - c0 * e1)
    k0 = step(3, "k0", lambda: limb("bb_lo") - c0 * e0)
    # the carries: arithmetic shifts (floor), the digits in [0, 2^26)
    t1 = step(4, "t1", lambda: k1 + hi(k0))
    t2 = step(5, "t2", lambda: k2 + hi(t1))

    def spread() -> Column:  # D2 - D1^2 / n, units^2
        top = (k3 + hi(t2)).cast("double") * F.lit(float(1 << LIMB)) + lo(t2).cast("double")
        bottom = (lo(t1) * lit(1 << LIMB) + lo(k0)).cast("double")  # < 2^52: exact
        d2 = top * F.lit(float(1 << (2 * LIMB))) + bottom
        return d2 - d1.cast("double") * d1.cast("double") / one  # n = 0: D1 = 0

    units2 = step(6, "spread", spread)
    m2 = F.when(units2 < F.lit(0.25), F.lit(0.0)).otherwise(units2 / F.lit(float(UNITS**2)))
    return step(7, "m2", lambda: F.when(n <= 0, F.lit(0.0)).when(fits, m2))  # null: it fails


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
    if feature.aggregation != "count" and not feature.sliding:
        recent = _exact_sum(frames, feature.column, w_us, 0)
        base = _exact_sum(frames, feature.column, b_us, 0)
    else:
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
    # include_current on a running frame: the row's own value joins the window's exact
    # sums (count, sum, m2) in the same units; on a sliding frame, and for max / min /
    # distinct, `with_current` folds it in below
    exact_current = feature.include_current and not sliding
    now = F.when(value.isNotNull(), F.lit(1)).otherwise(F.lit(0))

    def count() -> Column:
        rows = F.when(present, F.lit(1)).otherwise(0)
        n = frames.range_sum(f"count:{c}", rows, lo, hi, sliding=sliding)
        return n + now if exact_current else n

    builders = {
        "count": count,
        "sum": lambda: (
            frames.range_sum(f"sum:{c}", F.coalesce(value, F.lit(0.0)), lo, hi, sliding=True)
            if sliding
            else _exact_sum(frames, feature.column, lo, hi, current=exact_current)
        ),
        # the count is built again: its running sums are memoised, a sliding one is the
        # same expression, which Spark evaluates once per frame
        "m2": lambda: _m2(frames, feature.column, count(), lo, hi, sliding, exact_current),
        "max": lambda: frames.sliding(F.max, value, lo, hi, what=c),
        "min": lambda: frames.sliding(F.min, value, lo, hi, what=c),
        "distinct": lambda: frames.sliding(F.collect_set, value, lo, hi, what=c),
    }
    components = {name: builders[name]() for name in aggregation.components}
    if feature.include_current:
        exact = ("count", "sum", "m2") if exact_current else ()
        folded = with_current({k: v for k, v in components.items() if k not in exact}, value)
        components = {**components, **folded}
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
        # known_at = ts + delay: known before t iff ts < t - delay (strict, review53b)
        hi_us = max(lag_us, label_delay_s * MICROS)
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

    Fraud f counts in rate i at t iff t in [max(ts_f + lag_i, known_f) + 1us,
    ts_f + lag_i + W_i]: its label known strictly before t (review53b). Event columns are named after the rate feature (`_ev_<name>`);
    data rows leave them null, which sums ignore.
    """
    frauds = source.where((F.col(FRAUD) == 1) & F.col(entity_column).isNotNull())
    names = [_event_column(f) for f in rates]
    zeros = {name: F.lit(0).alias(name) for name in names}  # shared by every struct
    ts, known, one = F.col(TS), F.col(KNOWN), F.lit(1)
    structs = []
    for feature in rates:
        lag_us = feature.lag_s(label_delay_s) * MICROS
        start = F.greatest(ts + F.lit(lag_us), known) + one
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
