"""Point-in-time categorical encodings (frequency and delayed target rate) as snapshots.

Both encodings divide by a count over ALL transactions (every value), which as a
per-row window would need one global sort on a single task. Instead they are computed
as of the start s of the current row's refresh period (UTC day for refresh "1d"):

  frequency(v, s) = rows(v, ts < s) / rows(ts < s)
  target(v, s)    = (frauds(v, s) + m * prior(s)) / (mature(v, s) + m)
      mature(v, s) = rows of v with ts + lag < s        (lag = label delay if mature_only)
      frauds(v, s) = those with label = 1 and label_known_at < s
      prior(s)     = frauds(s) / mature(s) over all values

Rows only contribute through events that happened before s <= t, so the features are
point-in-time correct. Each (column, refresh, lag) group is one table: every row
emits up to three (value, period) events (its own period, the period its label
matures, the period its fraud becomes known), a groupBy sums them, a window over the
small table (value x period) turns them into "strictly before" running sums, and a
broadcast join brings them back: no shuffle or sort of the large side. Meant for
low-cardinality columns (mcc, channel, country), where the table is small.

A broadcast goes through the driver (Spark collects the table there first), so a spec
that encodes a high-cardinality column (merchant_id: values x days rows) sent the whole
table through it. The broadcast is now asked for only while the table's estimated rows
(its columns' distinct (date, value) pairs from the compiler's data profile, counted in
the features run's value-counts pass: `estimated_rows`) stay within BROADCAST_ROWS;
past it Spark's own join choice (its autoBroadcastJoinThreshold on its size estimate of
the aggregation: a shuffled join unless the data is small) decides. The values are the
same either way (session 43).

The groups of one (refresh, lag) share ONE aggregation: each event carries its group's
index `g`, the windows run per group, and the table's key is the group's index and the
value (`_key`), so every group's join reads the same table and Spark computes and
broadcasts it once (the shipped specs' mcc, channel and country: 5 Spark jobs and one
scan of the data where there were 15 and three; docs/PROBES.md, session 38).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_app.features.base import FeatureDef
from fraud_app.features.encoding_kinds import FrequencyEncoding, TargetEncoding
from fraud_app.features.labels import MICROS
from fraud_app.features.profile import DataProfile
from fraud_app.features.windows import FRAUD, KNOWN, TS

logger = logging.getLogger(__name__)
ENCODING_KINDS = (FrequencyEncoding, TargetEncoding)
# a snapshot table of at most this many estimated rows is broadcast by hint. Measured
# (session 43): 413,643 rows sent 7.1 MB of task results to the driver (~17 bytes a row
# serialised; the driver then builds the join's hash table of them): ~35 MB at the bound.
# The shipped specs (mcc, channel, country: ~10^3 values) over three years of daily
# periods: ~10^6 rows (session 42's estimate), within it.
BROADCAST_ROWS = 2_000_000
_DAY_US = 86_400 * MICROS
NULL_KEY = "__null__"
_SUMS = ("n", "m", "f")  # rows, matured rows, known frauds
ALL_KEY = "\u0000all"  # the overall row of a snapshot table; no real value looks like it


@dataclass(frozen=True)
class _Group:
    column: str
    refresh_us: int
    lag_us: int

    def prefix(self, index: int) -> str:
        return f"_enc{index}_"


def add_encodings(
    df: DataFrame,
    features: Sequence[FeatureDef],
    *,
    label_delay_s: int,
    source: DataFrame | None = None,
    profile: DataProfile | None = None,
) -> tuple[DataFrame, dict[str, Column]]:
    """df joined with the snapshot tables, and each feature's expression over it.

    The expressions (null = undefined) are meant for the caller's final select, which
    also drops the joined `_enc*` helper columns. `source` (same rows, fewer columns)
    feeds the aggregations; defaults to df. `profile`: `source`'s data profile (the encoded
    columns' distinct (date, value) pairs), which sizes each table for `_broadcast`; None
    (or a profile without them): every table broadcast, as before session 43.
    """
    source = df if source is None else source
    groups: dict[_Group, list[FeatureDef]] = {}
    for feature in features:
        groups.setdefault(_group_of(feature, label_delay_s), []).append(feature)
    index = {group: i for i, group in enumerate(groups)}
    out = df
    shared: dict[tuple[int, int], list[tuple[int, str]]] = {}  # one table per refresh, lag
    for group, i in index.items():
        shared.setdefault((group.refresh_us, group.lag_us), []).append((i, group.column))
    tables = {at: _snapshot_table(source, *at, columns) for at, columns in shared.items()}
    hinted = {
        at: _broadcast(estimated_rows(profile, *at, cols), cols) for at, cols in shared.items()
    }
    exprs: dict[str, Column] = {}
    for group, members in groups.items():
        prefix = group.prefix(index[group])
        table = tables[(group.refresh_us, group.lag_us)]
        renamed = table.select(
            F.col("key").alias(f"{prefix}key"),
            F.col("p").alias(f"{prefix}period"),
            *[F.col(c).alias(f"{prefix}{c}") for c in (*_SUMS, "all_n", "all_m", "all_f")],
        )
        if hinted[(group.refresh_us, group.lag_us)]:
            renamed = F.broadcast(renamed)
        out = out.join(renamed, on=_join_on(group, index[group]), how="left")
        exprs.update({f.name: _value(f, prefix) for f in members})
    return out, exprs


def _join_on(group: _Group, index: int) -> Column:
    """The row's key and period equal to the table's (`<prefix>key`, `<prefix>period`),
    computed in the join's condition: a `select` of them as helper columns first was one
    more analysis of the whole grown plan (session 54, helper ci54b). Neither side is
    null (`_key` reads a null as NULL_KEY; `_ts` is the required timestamp), so the rows
    matched are the USING join's on those columns."""
    prefix = group.prefix(index)
    key = _group_key(index, _key(group.column)) == F.col(f"{prefix}key")
    period = F.floor(F.col(TS) / F.lit(group.refresh_us)) == F.col(f"{prefix}period")
    return key & period


def estimated_rows(
    profile: DataProfile | None, refresh_us: int, lag_us: int, columns: list[tuple[int, str]]
) -> int | None:
    """About how many rows the snapshot table of `columns` (one refresh and lag) holds, from
    `profile`: a row per value and period it has events in, so each column's distinct
    (date, value) pairs, times the periods a day holds when the refresh is shorter (a longer
    refresh: fewer rows than that); None when a column was not profiled. A row's matured
    and known-fraud events can fall in periods of their own (sparse values: up to ~2x):
    an estimate, not a bound."""
    if profile is None or any(c not in profile.value_days for _, c in columns):
        return None
    per_day = max(1, -(-_DAY_US // refresh_us))
    return sum(profile.value_days[c] for _, c in columns) * per_day


def _broadcast(rows: int | None, columns: list[tuple[int, str]]) -> bool:
    """Whether a table is joined with Spark's broadcast hint: while its estimated `rows`
    are within BROADCAST_ROWS (or unknown); past it not (one INFO line naming the table's
    columns, the ones whose distinct values made it large among them): Spark's own choice
    (a shuffled join past its broadcast thresholds), so the table need not go through the
    driver."""
    if rows is None or rows <= BROADCAST_ROWS:
        return True
    logger.info(
        "the snapshot encoding table of %s: ~%d rows estimated (its columns' distinct "
        "(date, value) pairs), past %d: joined without a broadcast hint (Spark's own broadcast thresholds decide)",
        ", ".join(dict.fromkeys(c for _, c in columns)), rows, BROADCAST_ROWS,
    )  # fmt: skip
    return False


def _group_key(index: int, key: Column) -> Column:
    """The join key of group `index`'s value `key`: the index, a separator no digit is,
    then the value (one table holds the values of several groups)."""
    return F.concat(F.lit(f"{index}\u0001"), key)


def _group_of(feature: FeatureDef, label_delay_s: int) -> _Group:
    if isinstance(feature, TargetEncoding):
        lag = label_delay_s * MICROS if feature.mature_only else 0
        return _Group(feature.column, feature.refresh_s * MICROS, lag)
    if isinstance(feature, FrequencyEncoding):
        # Frequencies ignore labels; share the table of a mature target encoding if any.
        return _Group(feature.column, feature.refresh_s * MICROS, label_delay_s * MICROS)
    raise TypeError(f"{type(feature).__name__} is not an encoding feature")


def _key(column: str) -> Column:
    return F.coalesce(F.col(column).cast("string"), F.lit(NULL_KEY))


def _snapshot_table(
    source: DataFrame, refresh_us: int, lag_us: int, columns: list[tuple[int, str]]
) -> DataFrame:
    """(key, p) -> running sums over periods strictly before, per value and overall, of
    the groups (index, column) of one refresh and lag (key: `_group_key`)."""
    before = Window.partitionBy("g", "k").orderBy("p").rangeBetween(Window.unboundedPreceding, -1)
    running = _period_counts(source, refresh_us, lag_us, columns).select(
        "g", "k", "p", *[F.coalesce(F.sum(c).over(before), F.lit(0)).alias(c) for c in _SUMS]
    )
    # A window by period copies the overall sums onto each value's row; dropping the
    # overall rows only after it keeps Spark from splitting the plan per kind of row.
    same_period = Window.partitionBy("g", "p")
    overall = [
        F.max(F.when(F.col("k") == ALL_KEY, F.col(c))).over(same_period).alias(f"all_{c}")
        for c in _SUMS
    ]
    table = running.select("*", *overall).where(F.col("k") != ALL_KEY)
    key = F.concat(F.col("g").cast("string"), F.lit("\u0001"), F.col("k"))
    return table.select(key.alias("key"), "p", *_SUMS, "all_n", "all_m", "all_f")


def _period_counts(
    source: DataFrame, refresh_us: int, lag_us: int, columns: list[tuple[int, str]]
) -> DataFrame:
    """(g, k, p, n, m, f): rows, matured rows and known frauds landing in period p, per
    group index g (of `columns`: (index, column)) and key.

    The scan of the data emits about one event per row: its own period, plus one for a
    fraud's "known" period. When the lag is a whole number of periods a row matures
    exactly `lag / refresh` periods after its own, so matured counts are derived from
    the (small) per-period table instead of from the rows. The small table then adds
    every count to the overall key ALL_KEY too: the caller's one window partitioned by
    key (no single-partition global window) makes running sums of both.
    """
    r = F.lit(refresh_us)
    mature_at = F.col(TS) + F.lit(lag_us)
    shift = lag_us // refresh_us if lag_us % refresh_us == 0 else None

    def event(g: int, column: str, at: Column, n: int, m: int, f: int) -> Column:
        return F.struct(
            F.lit(g).alias("g"),
            _key(column).alias("k"),
            F.floor(at / r).alias("p"),
            F.lit(n).alias("n"),
            F.lit(m).alias("m"),
            F.lit(f).alias("f"),
        )

    raw = []
    for g, column in columns:
        raw.append(event(g, column, F.col(TS), 1, 0, 0))
        if shift is None:
            raw.append(event(g, column, mature_at, 0, 1, 0))
        known = event(g, column, F.greatest(F.col(KNOWN), mature_at), 0, 0, 1)
        raw.append(F.when(F.col(FRAUD) == 1, known))
    per_key = (
        source.select(F.explode(F.array(*raw)).alias("e"))
        .where(F.col("e").isNotNull())
        .groupBy("e.g", "e.k", "e.p")
        .agg(*[F.sum(f"e.{c}").alias(c) for c in _SUMS])
    )
    spread = []
    for key in (F.col("k"), F.lit(ALL_KEY)):
        spread.append(F.struct("g", key.alias("k"), "p", "n", "m", "f"))
        if shift is not None:
            zero = F.lit(0).cast("long")
            matured = F.struct(
                "g",
                key.alias("k"),
                (F.col("p") + F.lit(shift)).alias("p"),
                zero.alias("n"),
                F.col("n").alias("m"),
                zero.alias("f"),
            )
            spread.append(matured)
    return (
        per_key.select(F.explode(F.array(*spread)).alias("e"))
        .groupBy("e.g", "e.k", "e.p")
        .agg(*[F.sum(f"e.{c}").alias(c) for c in _SUMS])
    )


def _value(feature: FeatureDef, prefix: str) -> Column:
    def c(name: str) -> Column:
        return F.col(f"{prefix}{name}")

    if isinstance(feature, FrequencyEncoding):
        return F.when(c("all_n") > 0, c("n") / c("all_n"))
    if isinstance(feature, TargetEncoding):
        if feature.smoothing == 0:
            return F.when(c("m") > 0, c("f") / c("m"))
        m = F.lit(float(feature.smoothing))
        prior = F.when(c("all_m") > 0, c("all_f") / c("all_m"))
        return F.when(c("m") + m > 0, (c("f") + m * prior) / (c("m") + m))
    raise TypeError(f"{type(feature).__name__} is not an encoding feature")
