"""One pass over the canonical table for the feature step's data checks.

Rows per (column, value) of the window features' entity columns and per date, counted in
ONE Spark aggregation and kept (persisted, small: one row per distinct id and date) for the
checks that read them: the hot ids (fraud_app.features.hot_keys), the ids in two spellings
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
from fraud_app.features.id_spellings import EXAMPLES, spelling_groups
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
    """`counts`: rows (c, v, count) per entity column c and its non-null value v as text;
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
    """The counts of `df` (one aggregation, persisted while the block runs); the digests
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
        .persist()
    )
    try:
        ids = counts.where(F.col("c") != DATE).select("c", "v", "count")
        groups, checked = _collected(counts.where(F.col("c") == DATE), ids, bool(columns))
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
            profile = profile_of(ask, [{**r.asDict(), "_rows": r["count"]} for r in groups])
        yield ValueCounts(ids, columns, days, digests, profile, tuple(checked))
    finally:
        counts.unpersist()


def _checked(ids: DataFrame) -> DataFrame:
    """(c, kind, v, count, vs, groups, i): per entity column its ids of most rows (kind HOT,
    by rows then id: fraud_app.features.hot_keys) and per column and kind its groups of ids
    in several spellings (by key: fraud_app.features.id_spellings), the first EXAMPLES of
    each with `groups` their number; one window for both (each had its own, and a collect)."""
    ranked = ids.select(
        "c", F.lit(HOT).alias("kind"), "v", "count", F.lit(None).cast("array<string>").alias("vs"),
        (-F.col("count")).alias("o1"), F.col("v").alias("o2"),
    )  # fmt: skip
    spelled = spelling_groups(ids).select(
        "c", "kind", F.lit(None).cast("string").alias("v"), F.col("n").alias("count"), "vs",
        F.lit(0).cast("long").alias("o1"), F.col("k").alias("o2"),
    )  # fmt: skip
    per = Window.partitionBy("c", "kind")
    return (
        ranked.unionByName(spelled)
        .select(
            "c", "kind", "v", "count", "vs", F.count(F.lit(1)).over(per).alias("groups"),
            F.row_number().over(per.orderBy("o1", "o2")).alias("i"),
        )
        .where(F.col("i") <= EXAMPLES)
    )  # fmt: skip


def _collected(dated: DataFrame, ids: DataFrame, check: bool) -> tuple[list[Row], list[Row]]:
    """(the rows per date, `_checked`'s rows when `check`) in one collect: the checks' own
    queries were a Spark job or three each, after the dates' (docs/PROBES.md, session 44)."""
    if not check:
        return dated.collect(), []
    both = dated.select(F.struct("*").alias("d")).unionByName(
        _checked(ids).select(F.struct("*").alias("x")), allowMissingColumns=True
    )
    rows = both.collect()
    return [r["d"] for r in rows if r["d"] is not None], [
        r["x"] for r in rows if r["x"] is not None
    ]
