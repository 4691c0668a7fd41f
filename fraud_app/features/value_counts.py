"""One pass over the canonical table for the feature step's data checks.

Rows per (column, value) of the window features' entity columns and per date, counted in
ONE Spark aggregation, and what the checks read of them collected in the same query (a
row per date, a few per column: `_collected`; session 44): the hot ids (fraud_app.features.hot_keys), the ids in two spellings
(fraud_app.features.id_spellings) and the rows per date of the timeline
(fraud_app.timeline). Each check had its own scan and shuffle of the table: three passes,
+8.8 s of a 1M-row `features` step (51.6 -> 60.4 s, session 29); one pass now. The same
pass sums each date's content hashes (fraud_app.features.label_changes: every column but
the labels), which the incremental build records to tell a date whose labels alone
changed: of every date on a full build, of the dates whose files changed on an incremental
one (`hashed`; the others' digests carried from the table's record by the caller: hashing
every row added ~1.5-2.3 s per 1M rows to each run, review33). Owns the counting, not what
the checks conclude.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import DataFrame, Row, Window
from pyspark.sql import functions as F

from fraud_app.features.base import FeatureDef
from fraud_app.features.hot_keys import HOT
from fraud_app.features.id_spellings import EXAMPLES, spelling_keys
from fraud_app.features.keyed import Keyed
from fraud_app.features.label_changes import HASHES, content_hashes, day_digest
from fraud_app.features.profile import (
    DataProfile,
    ProfileAsk,
    profile_aggregates,
    profile_fields,
    profile_of,
    row_date,
)

DATE = "__date__"  # the `c` of the rows per date (not a column name of the table)


@dataclass(frozen=True)
class ValueCounts:
    """`counts`: rows (c, v, count) per entity column c and its non-null value v as text
    (lazy: reading it scans the table again; the checks read `checked`);
    `days`: rows per date (the event_date, else the UTC date of the timestamp); `total`:
    the table's rows; `digests`: per date (ISO text) the digest of its rows' content but
    the labels (fraud_app.features.label_changes.day_digest), of the dates hashed;
    `profile`: the table's profile when asked (fraud_app.features.compile.skip_ask);
    `checked`: what the checks read of `counts` (`_checked`), collected with the dates."""

    counts: DataFrame
    columns: tuple[str, ...]
    days: dict[dt.date, int]
    digests: dict[str, str]
    profile: DataProfile | None = None
    checked: tuple[Row, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.days.values())


def entity_columns(features: Sequence[FeatureDef], present: Sequence[str]) -> tuple[str, ...]:
    """The columns the window features are keyed by that the table holds, sorted."""
    return tuple(sorted({f.entity_column for f in features if isinstance(f, Keyed)} & set(present)))


@contextmanager
def value_counts(
    df: DataFrame, features: Sequence[FeatureDef], hashed: Collection[str] | None = None,
    ask: ProfileAsk | None = None,
) -> Iterator[ValueCounts]:  # fmt: skip
    """The counts of `df` (one aggregation; its dates and what the id checks read collected
    in one query with it, `_collected`: nothing kept in memory); the digests
    of the dates in `hashed` (ISO text; None: every date): no other row is hashed; the
    profile `ask` asks for (None: none), counted per date in the same aggregation."""
    columns = entity_columns(features, df.columns)
    day = row_date(df.columns)  # the profile's (date, value) pairs are of it too
    asked = ask is not None and not ask.empty
    # the id rows hash and profile nothing
    none = [F.lit(None).cast("long").alias(h) for h in HASHES]
    none += profile_fields(ask, day, rows=False) if asked else []
    pairs = [
        F.struct(F.lit(c).alias("c"), F.col(c).cast("string").alias("v"), *none) for c in columns
    ]
    content = content_hashes(df)
    if content is not None and hashed is not None:  # the other dates' rows hash nothing
        wanted = day.isin([dt.date.fromisoformat(d) for d in sorted(hashed)])  # no text per row
        content = [F.when(wanted, h) for h in content] if hashed else None
    hashes = (
        none[: len(HASHES)]
        if content is None
        else [h.alias(n) for h, n in zip(content, HASHES, strict=True)]
    )
    profiled = profile_fields(ask, day) if asked else []
    pairs.append(
        F.struct(F.lit(DATE).alias("c"), day.cast("string").alias("v"), *hashes, *profiled)
    )
    # the rows without a date are kept for the profile only (every row counts there)
    kept = F.col("v").isNotNull() | (F.col("c") == DATE) if asked else F.col("v").isNotNull()
    counts = (
        df.select(F.explode(F.array(*pairs)).alias("p"))
        .select("p.*")
        .where(kept)
        .groupBy("c", "v")
        .agg(
            F.count(F.lit(1)).alias("count"),
            *[F.sum(h).alias(h) for h in HASHES],
            *(profile_aggregates(ask) if asked else []),
        )
    )
    groups, checked = _collected(counts)
    dated = [r for r in groups if r["v"] is not None]
    days = {dt.date.fromisoformat(r["v"]): int(r["count"]) for r in dated}
    digests = (
        {}
        if content is None
        else {
            r["v"]: day_digest(r["count"], [r[h] for h in HASHES])
            for r in dated
            if hashed is None or r["v"] in hashed
        }
    )
    profile = None
    if asked:
        profile = profile_of(ask, [{**r, "_rows": r["count"]} for r in groups])
    ids = counts.where(F.col("c") != DATE).select("c", "v", "count")
    yield ValueCounts(ids, columns, days, digests, profile, tuple(checked))


def _collected(counts: DataFrame) -> tuple[list[dict], list[Row]]:
    """(the rows per date as dicts of `counts`' columns, the checks' rows) of `counts` in
    ONE query. The checks' rows (c, kind, v, count, vs, groups, i): per entity column its
    ids of most rows (kind HOT, by rows then id: fraud_app.features.hot_keys) and per column
    and kind its groups of ids in several spellings (kind and key:
    fraud_app.features.id_spellings.spelling_keys; by key), the first EXAMPLES of each and
    `groups` their number. A second grouping (each date and id a group of its own, the ids
    also by spelling key) and two windows on one shuffle: 4 Spark jobs, where the persisted counts' collect
    was 3, the spellings' own grouping, window and collect 3 and the hot ids' window and
    collect 2 (docs/PROBES.md, session 44). What comes to the driver: a row per date and at
    most EXAMPLES per column and kind."""
    c, v, kind = F.col("c"), F.col("v"), F.col("kind")
    sums = [F.col(x) for x in counts.columns if x not in ("c", "v", "count")]
    keys = F.when(c == DATE, F.array(F.struct(F.lit(DATE).alias("kind"), v.alias("k"))))
    keys = keys.otherwise(
        F.array(F.struct(F.lit(HOT).alias("kind"), v.alias("k")), *spelling_keys(v))
    )
    alone = kind.isin(DATE, HOT)  # a group of one row: a date's, an id's
    grouped = (
        counts.select(
            "c", "v", "count", F.when(c == DATE, F.struct(*sums)).alias("d"),
            F.explode(keys).alias("x"),
        )
        .select("c", "v", "count", "d", "x.kind", "x.k")
        .where(alone | F.col("k").isNotNull())
        .groupBy("c", "kind", "k")
        .agg(
            F.count("v").alias("n"), F.sort_array(F.collect_list(F.when(~alone, v))).alias("vs"),
            F.first("v").alias("v"), F.first("count").alias("count"), F.first("d").alias("d"),
        )
        .where(alone | (F.col("n") > 1))
    )  # fmt: skip
    # a column's ids (kind HOT) are one partition of the numbering, cut to its first EXAMPLES
    # as they stream out of the sort (WindowGroupLimit); the groups are counted over a
    # partition where each id is alone: counted over the numbering's, the count's frame
    # buffered every id of the column in one task (10^7 cards; session 44 review). Both
    # windows on one shuffle by (c, kind).
    grouped = grouped.repartition("c", "kind").select(
        "*",
        F.when(kind == DATE, F.col("k")).alias("p"),  # each date alone
        F.when(alone, F.col("k")).alias("q"),  # each date and id alone
    )
    per = Window.partitionBy("c", "kind", "p")
    first = per.orderBy(F.when(kind == HOT, -F.col("count")).otherwise(0), "k")
    rows = (
        grouped.withColumn("groups", F.count(F.lit(1)).over(Window.partitionBy("c", "kind", "q")))
        .withColumn("i", F.row_number().over(first))
        .where(F.col("i") <= EXAMPLES)
        .select("c", "kind", "v", "count", "vs", "d", "groups", "i")
        .collect()
    )
    dates = [{"c": DATE, "v": r["v"], "count": r["count"], **r["d"].asDict()}
             for r in rows if r["kind"] == DATE]  # fmt: skip
    return dates, [r for r in rows if r["kind"] != DATE]
