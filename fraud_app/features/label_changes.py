"""The changed canonical dates whose rows differ from the feature table's input only in
their labels, and the dates those labels reach.

In the daily cycle `labels` rewrites the date partitions of rows whose frauds were
confirmed late, weeks back, and a date-level d0 (fraud_app.features.incremental) moved the
incremental build back as far. But a label reaches other rows' features only once it is
known (fraud_app.features.labels): a fraud f (label = 1, known at K_f = label_time, else
timestamp + label delay) counts in a fraud rate at t >= max(ts_f + lag + 1us, K_f)
(fraud_app.features.windows), in a target encoding from the refresh period after the one
holding max(K_f, ts_f + lag) (fraud_app.features.encodings); a row that is not a fraud
(label 0 or null) counts in no numerator, and no denominator reads labels. So the other
rows' features can change only on dates >= the UTC date of max(K, ts), under the new
value or the old one (a label taken back, a label_time moved later), while the row's own
date changes in its passthrough `label` / `label_time` columns alone (its own features
never read its own label: every window and encoding period ends before it).

Hence: a changed date whose rows' content but the labels is the one the table was built
from (`digests`, recorded per date at every build from the value counts' pass:
`content_hashes`) is a candidate; its rows are matched by transaction_id with the
feature table's rows of that date (which hold the labels they were built with). Then the
dates to recompute are those from the first of (the first date that changed otherwise,
the first date a changed label reaches), and the changed rows' own dates before it are
rewritten with the new labels only (`patched_rows`: their features read back as they
are). Anything this cannot vouch for (no recorded digest, a digest that differs, ids
missing, duplicated or moved, no transaction_id column) leaves the date-level d0.
Owns the decision and the patch, not the writing (fraud_app.features.table_update).

The digests of an incremental build's unchanged dates are carried from the table's record
(`carried_digests`): the plan found their files as recorded (names, sizes, modification
times) and every input digest equal (the canonical schema, this code's release), so
hashing their rows again would give the recorded values. Only the changed dates' rows are
hashed (a full build hashes every date).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraud_app.etl.reader import quoted
from fraud_app.features.incremental import KEY, Plan
from fraud_app.features.labels import known_at_micros, utc_micros_datetime
from fraud_app.schema import LABEL_COLUMNS, PARTITION_COLUMN

logger = logging.getLogger(__name__)
HASHES = ("_h_hi", "_h_lo", "_h_m3")  # the per-row hash parts summed per date
ID = "transaction_id"


def content_hashes(df: DataFrame) -> list[Column] | None:
    """Three longs per row (the high and low halves of an xxhash64, a murmur3) of every
    column but the labels and the date, which summed per date (order-free, no overflow
    below 2^31 rows a date) digest its rows' content. Floating columns are hashed as their
    exact text (Spark hashes -0.0 as 0.0); a null mask keeps a value moved between two
    columns from hashing as before (hashes skip nulls). None when a column holds a map
    (Spark does not hash maps): then no date is taken as changed only in labels."""
    fields = [f for f in df.schema.fields if f.name not in (*LABEL_COLUMNS, PARTITION_COLUMN)]
    if any("map<" in f.dataType.simpleString() for f in fields):
        return None
    values = [
        F.col(quoted(f.name)).cast("string")
        if isinstance(f.dataType, (T.FloatType, T.DoubleType))
        else F.col(quoted(f.name))
        for f in fields
    ]
    mask = F.concat(
        F.lit("m"), *[F.when(F.col(quoted(f.name)).isNull(), "1").otherwise("0") for f in fields]
    )
    h = F.xxhash64(*values, mask)
    return [
        F.shiftright(h, 32),
        h.bitwiseAND(F.lit(0xFFFFFFFF)),
        F.hash(*values, mask).cast("long"),
    ]


def carried_digests(plan: Plan, partitions: dict[str, str] | None) -> tuple[set | None, dict]:
    """(the dates whose rows the value counts' pass hashes, None: every date; the recorded
    digests of the others, carried): on an incremental plan, the dates of `partitions` (the
    input's now) that changed since the build or have no recorded digest are hashed."""
    if plan.full or partitions is None:
        return None, {}
    was = plan.previous.get(KEY, {}) if plan.previous else {}
    recorded = was.get("digests") if isinstance(was.get("digests"), dict) else {}
    changed = set(plan.changed)
    hashed = {d for d in partitions if d in changed or not isinstance(recorded.get(d), str)}
    if len(hashed) == len(partitions):
        return None, {}  # every date: no per-row test of the date
    logger.info(
        "features: row digests (for dates changed only in labels) of %d date(s) computed, "
        "%d carried from the table's record (their files unchanged)",
        len(hashed), len(partitions) - len(hashed),
    )  # fmt: skip
    return hashed, {d: recorded[d] for d in partitions if d not in hashed}


def day_digest(rows: int, sums: list[Any]) -> str:
    text = ":".join(str(v) for v in (rows, *sums))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LabelDiff:
    """The rows of the candidate dates whose label or label_time changed: how many, their
    own dates, and the first date a changed label reaches (None: none reaches another
    row), with that row's id and the instant."""

    rows: int
    own_dates: tuple[str, ...]
    reach: dt.date | None
    reach_id: str | None = None
    reach_at: str | None = None


def narrow(
    df: DataFrame, plan: Plan, now: dict[str, Any], label_delay_s: int,
    table: Callable[[], DataFrame],
) -> Plan:  # fmt: skip
    """`plan` (an incremental one with changed dates) with `start` moved later and
    `patched` set where dates changed only in labels; `why` says what set the start.
    `table()`: the feature table as read (once a run, with patched_rows: each read of a
    Parquet table infers its schema, a Spark job)."""
    was = plan.previous.get(KEY, {}) if plan.previous else {}
    before, after = was.get("partitions") or {}, now["partitions"] or {}
    recorded, current = was.get("digests") or {}, now.get("digests") or {}
    candidates, other = [], []
    for day in plan.changed:
        same = day in before and day in after and recorded.get(day) is not None
        (candidates if same and recorded[day] == current.get(day) else other).append(day)
    first_other = other[0] if other else None
    if not recorded:
        return replace(
            plan, why="the table records no digest of its dates' rows (an older release)"
        )
    if not candidates:
        return replace(
            plan, why=f"the first changed date, {first_other}, went, appeared or changed in "
                      "more than labels",
        )  # fmt: skip
    diff = label_diff(df, table, candidates, label_delay_s)
    if isinstance(diff, str):
        return replace(plan, why=f"{len(candidates)} date(s) hold the same rows but {diff}")
    starts = [d for d in (first_other, diff.reach and diff.reach.isoformat()) if d]
    start = min(starts) if starts else None
    patched = tuple(d for d in diff.own_dates if start is None or d < start)
    reach = (
        f"the first changed label reaches other rows on {diff.reach} ({diff.reach_id}: "
        f"a fraud known at {diff.reach_at}, under its new or old label)"
        if diff.reach
        else "no changed label reaches other rows (no fraud, or one known when it was)"
    )
    why = (
        f"{len(candidates)} date(s) hold the rows it was built from but for labels "
        f"({diff.rows} row(s) with another label or label_time; their own dates before "
        f"the start rewritten with the new labels: {len(patched)}); {reach}; "
        f"the first date changed otherwise: {first_other or 'none'}"
    )
    return replace(
        plan, start=start and dt.date.fromisoformat(start), patched=patched, why=why
    )  # fmt: skip


def _sides(df: DataFrame, table: Callable[[], DataFrame], days: list[str], delay_s: int):
    """(canonical, feature table) rows of `days`: id, date, ts, label, label_time, and
    whether each is a fraud and from when it reaches other rows (max(known, ts))."""
    dates = [F.lit(d).cast("date") for d in days]
    out = []
    for name, frame in (("n", df), ("o", table())):
        rows = frame.where(F.col(PARTITION_COLUMN).isin(*dates))
        ts = F.unix_micros(F.col("timestamp"))
        label_time = F.col("label_time") if "label_time" in frame.columns else None
        known = known_at_micros(label_time, F.col("timestamp"), delay_s)
        out.append(rows.select(
            F.col(ID).alias(f"{name}_id"),
            F.col(PARTITION_COLUMN).cast("string").alias(f"{name}_day"),
            ts.alias(f"{name}_ts"),
            F.col("label").alias(f"{name}_label"),
            (label_time if label_time is not None else F.lit(None)).alias(f"{name}_lt"),
            F.coalesce(F.col("label") == 1, F.lit(False)).alias(f"{name}_fraud"),
            F.greatest(known, ts).alias(f"{name}_reach"),
        ))  # fmt: skip
    return out


def label_diff(
    df: DataFrame, table: Callable[[], DataFrame], days: list[str], delay_s: int
) -> LabelDiff | str:
    """The label changes of `days` between the canonical rows and the feature table's;
    what kept them from being matched one to one (a str) instead."""
    if ID not in df.columns or "label" not in df.columns:
        return "no transaction_id or label column to match them by"
    new, old = _sides(df, table, days, delay_s)
    got = _paired_counts(_paired(new, old))
    if got["duplicated"]:  # the join's own figures for the message (a pair per two rows)
        got = _joined_counts(new, old)
    if got["unmatched"] or got["moved"] or got["rows"] != got["ids"]:
        return (
            f"their ids do not match the feature table's one to one ({got['unmatched']} "
            f"unmatched, {got['moved']} with another date or timestamp, "
            f"{got['rows'] - got['ids']} duplicated)"
        )
    first = got["first"]
    at = utc_micros_datetime(first["at"]) if first is not None else None
    return LabelDiff(
        rows=int(got["changed"] or 0),
        own_dates=tuple(sorted(got["own"])),
        reach=at.date() if at else None,
        reach_id=first["id"] if first is not None else None,
        reach_at=at.isoformat(sep=" ") if at else None,
    )


_FIELDS = ("day", "ts", "label", "lt", "fraud", "reach")


def _paired(new: DataFrame, old: DataFrame) -> DataFrame:
    """One row per id of both sides (the null id: one row for all its rows) with each
    side's rows (`n_rows`, `o_rows`) and, of a side with one row, its values (`n_day`, ...,
    `o_reach`): the full outer join's pairs where the ids match one to one, in one shuffle
    (the join and the distinct count of its ids were four: session 43)."""
    sides = [
        frame.select(
            F.col(f"{name}_id").alias("_id"),
            F.lit(name).alias("_side"),
            *[F.col(f"{name}_{f}").alias(f) for f in _FIELDS],
        )
        for name, frame in (("n", new), ("o", old))
    ]
    both, is_new = sides[0].unionByName(sides[1]), F.col("_side") == "n"
    paired = both.groupBy("_id").agg(
        F.sum(is_new.cast("long")).alias("n_rows"),
        F.sum((~is_new).cast("long")).alias("o_rows"),
        *[F.first(F.when(is_new, F.col(f)), ignorenulls=True).alias(f"n_{f}") for f in _FIELDS],
        *[F.first(F.when(~is_new, F.col(f)), ignorenulls=True).alias(f"o_{f}") for f in _FIELDS],
    )
    return paired.withColumn("n_id", F.col("_id"))


def _paired_counts(p: DataFrame):
    """_joined_counts' figures from `_paired` rows; `duplicated`: whether an id has two
    rows on a side (then the join pairs each with each, and `moved` is not its figure)."""
    known, n, o = p["_id"].isNotNull(), p["n_rows"], p["o_rows"]
    one = known & (n == 1) & (o == 1)
    alone = ~known | (n == 0) | (o == 0)
    return p.agg(
        F.coalesce(F.sum(F.when(alone, n + o).otherwise(n * o)), F.lit(0)).alias("rows"),
        F.count(p["_id"]).alias("ids"),
        F.sum(F.when(alone, n + o).otherwise(0)).alias("unmatched"),
        F.max(known & ((n > 1) | (o > 1))).alias("duplicated"),
        *_pair_figures(p, one),
    ).first()


def _joined_counts(new: DataFrame, old: DataFrame):
    """The figures of the full outer join of the two sides by id."""
    j = new.join(old, new["n_id"] == old["o_id"], "full_outer")
    return j.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_distinct(F.coalesce(j["n_id"], j["o_id"])).alias("ids"),
        F.sum(F.when(j["n_id"].isNull() | j["o_id"].isNull(), 1).otherwise(0)).alias("unmatched"),
        *_pair_figures(j, F.lit(True)),
    ).first()


def _pair_figures(j: DataFrame, paired: Column) -> list[Column]:
    """Of the pairs (n_*, o_*) of `j` where `paired`: those moved (another date or
    timestamp), those whose label or label_time changed, their own dates, and the first
    instant (with its id) a changed fraud reaches other rows, under its new or old label."""
    differ = paired & (~j["n_label"].eqNullSafe(j["o_label"]) | ~j["n_lt"].eqNullSafe(j["o_lt"]))
    same_fraud = (j["n_fraud"] == j["o_fraud"]) & (~j["n_fraud"] | (j["n_reach"] == j["o_reach"]))
    reach = F.least(
        F.when(j["n_fraud"], j["n_reach"]), F.when(j["o_fraud"], j["o_reach"])
    )  # fmt: skip
    reaching = F.when(differ & ~same_fraud, F.struct(reach.alias("at"), j["n_id"].alias("id")))
    moved = paired & ((j["n_day"] != j["o_day"]) | (j["n_ts"] != j["o_ts"]))
    return [
        F.sum(F.when(moved, 1).otherwise(0)).alias("moved"),
        F.sum(F.when(differ, 1).otherwise(0)).alias("changed"),
        F.collect_set(F.when(differ, j["n_day"])).alias("own"),
        F.min(reaching).alias("first"),
    ]


def patched_rows(df: DataFrame, table: Callable[[], DataFrame], days: tuple[str, ...]):
    """The feature table's rows of `days` with `label` / `label_time` as `df` (the
    canonical table) holds them now, every other column read back as it is."""
    dates = [F.lit(d).cast("date") for d in days]
    table = table().where(F.col(PARTITION_COLUMN).isin(*dates))
    labels = [c for c in LABEL_COLUMNS if c in table.columns]
    new = df.where(F.col(PARTITION_COLUMN).isin(*dates)).select(
        F.col(ID).alias("_p_id"), *[F.col(c).alias(f"_p_{c}") for c in labels]
    )
    joined = table.join(new, table[ID] == new["_p_id"], "left")
    return joined.select(
        *[
            joined[f"_p_{c}"].cast(table.schema[c].dataType).alias(c)
            if c in labels
            else table[quoted(c)]
            for c in table.columns
        ]
    )
