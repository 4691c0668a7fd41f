"""Duplicates: identical copies of a transaction are dropped (and counted); copies whose
content differs (conflicting duplicates) are never merged silently.

Owns the classification of the clean rows of one transaction_id; does not own reading,
writing or the accounting. "Content" is every canonical column after parsing, so
`12.50` and `12.5` are the same amount.

Which version wins (etl.conflicting_duplicates):
  keep_earliest: order the versions by timestamp, then by label (fraud first: a copy
    that reports a fraud is taken as the correction), then by every other canonical
    column (ascending, nulls first); the first goes to the canonical table, each other version
    to the quarantine as `conflicting_duplicate`, its detail naming the columns that
    differ and the kept values, so both versions can be read from the quarantine.
  quarantine_all: every version goes to the quarantine; none is kept.

With `etl.mode: append` the rows already published (`previous`) take part: a published
row always stays (it may already have been trained on or scored); a new copy identical
to it is dropped and counted, a new version that differs from it is quarantined as
`conflicting_duplicate`, its detail naming the columns and the published values.

Labels that arrive later (etl.allow_unlabelled): a copy WITHOUT a label of a row that has
one (every other column equal) is an earlier copy of it: dropped and counted as a
duplicate, in the input or against the table. A published row WITHOUT a label whose new
copy has one is the one exception to "a published row always stays": the labelled copy
takes its place (FILLED; the row's other columns, so its features before the label was
known, do not change). Several labelled copies of it are versions by the policy above
(keep_earliest: fraud first; quarantine_all: none kept, the row stays unlabelled). A new
label for a row that already has another one is a `conflicting_duplicate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F

from fraud_app.etl.rules import CONFLICTING_DUPLICATE, DETAIL, REASON
from fraud_app.schema import CANONICAL_COLUMNS, LABEL_COLUMNS

CANONICAL_NAMES: tuple[str, ...] = tuple(c.name for c in CANONICAL_COLUMNS)


def dedup_order() -> list[Column]:
    """Which version comes first (see the module docstring)."""
    rest = [c for c in CANONICAL_NAMES if c not in ("transaction_id", "timestamp", "label")]
    return [
        F.col("timestamp").asc_nulls_first(),
        F.col("label").desc_nulls_last(),
        *(F.col(c).asc_nulls_first() for c in rest),
    ]


CLASS = "__dup_class"
KEEP, EXACT, CONFLICT, FILLED = 0, 1, 2, 3
PUBLISHED = "__published"  # a row of the canonical table before this run (append mode)
FILLS = "__fills"  # a new row (KEEP) that fills in the label of a published unlabelled row
_ID, _COPIES = "__id", "__copies"  # working columns of _split_by_copies
# every canonical column but the label and its time: two rows equal in these are copies
# of one transaction, one of them maybe not labelled yet
CONTENT: tuple[str, ...] = tuple(c for c in CANONICAL_NAMES if c not in LABEL_COLUMNS)


def classify(valid: DataFrame, policy: str, previous: DataFrame | None = None) -> DataFrame:
    """Add CLASS (KEEP / EXACT copy of a row already counted / CONFLICT version to
    quarantine / FILLED: a published row replaced by its labelled copy), FILLS and, for
    CONFLICT rows, `reason` and `reason_detail`. `previous`: the published canonical rows
    (append mode), which come out as KEEP (or FILLED) rows, with PUBLISHED true (false on
    every row of `valid`). Only the rows of the transaction_ids in `valid` matter: the
    classification is per transaction_id.

    Unlabelled copies (label null): a row whose CONTENT equals a labelled row's is an
    earlier copy of it: a new one is EXACT; a published one (the label arrived later)
    gives its place to its labelled new copies, which are versioned among themselves by
    the policy (the kept one FILLS it, the others CONFLICT); each kind is classified apart
    (key `__group`) from the transaction's other new rows, which conflict with it."""
    df = valid.withColumn(PUBLISHED, F.lit(False))
    if previous is not None:
        old = previous.select(*CANONICAL_NAMES).withColumn(PUBLISHED, F.lit(True))
        df = df.unionByName(old, allowMissingColumns=True)
    single, several = _split_by_copies(df)
    return _classify_several(several, policy).unionByName(_classify_single(single))


def _split_by_copies(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(rows whose transaction_id no other row has, the other rows). Nearly every id has
    one row: the windows of `_classify_several` on every row cost two sorts of the wide
    rows and a window group per row, where the count per id is a hash aggregate of the
    ids alone and a hash join (no sort); the 1M demo's classification and cache took 43
    -> 27 CPU-s (docs/BENCHMARKS.md, session 25). A null id (none among the clean rows)
    is grouped as one id, as the windows' partitions group it: its rows go to the windows
    (a lone row comes out of them as `_classify_single` gives it).

    The join is on `==`, so the counts, hashed by id, are joined where they were counted;
    a null-safe join hashes on another key and shuffled the counts once more per side of
    the split (2 Spark jobs of every run, session 44)."""
    ids = df.groupBy(F.col("transaction_id").alias(_ID)).agg(F.count(F.lit(1)).alias(_COPIES))
    counted = df.join(ids.hint("shuffle_hash"), F.col("transaction_id") == F.col(_ID)).drop(_ID)
    no_id = df.filter(F.col("transaction_id").isNull())
    return (
        counted.filter(F.col(_COPIES) == 1).drop(_COPIES),
        counted.filter(F.col(_COPIES) > 1).drop(_COPIES).unionByName(no_id),
    )


def _classify_single(df: DataFrame) -> DataFrame:
    """What `_classify_several` gives a transaction_id's only row: KEEP (published or not),
    filling nothing, no reason."""
    return df.withColumns(
        {
            CLASS: F.lit(KEEP),
            FILLS: F.lit(False),
            REASON: F.lit(None).cast("string"),
            DETAIL: F.lit(None).cast("string"),
        }
    )


# the key of a version group: (transaction_id, _GROUP), _GROUP one of
_USUAL, _FILL_GROUP, _UNLABELLED_COPY = 0, 1, 2  # see _with_groups
_GROUP = "__group"
_WORK = ("__rn", "__rk", "__version", "__kept", "__versions", "__has_published", "__open",
         _GROUP)  # fmt: skip


@dataclass(frozen=True)
class _GroupWindows:
    """The windows over one version group (transaction_id, _GROUP): its rows in version
    order (`ordered`), the same with a published row before its identical copies
    (`copies`: a re-delivered copy is then the duplicate), and all of them (`whole`)."""

    ordered: WindowSpec
    copies: WindowSpec
    whole: WindowSpec

    @classmethod
    def build(cls) -> _GroupWindows:
        key = ("transaction_id", _GROUP)
        return cls(
            ordered=Window.partitionBy(*key).orderBy(*dedup_order()),
            copies=Window.partitionBy(*key).orderBy(*dedup_order(), F.col(PUBLISHED).desc()),
            whole=Window.partitionBy(*key),
        )


def _classify_several(df: DataFrame, policy: str) -> DataFrame:
    """`classify` of the rows of transaction_ids that have more than one row."""
    # one shuffle by id serves every window below (each is per transaction_id); without it
    # the window by content hashed on all its columns and the later ones shuffled again
    df = _with_groups(df.repartition("transaction_id"))
    df = _with_versions(df, _GroupWindows.build())
    df = df.withColumn(CLASS, _class(policy)).withColumn(
        FILLS, _in_fill_group() & ~F.col(PUBLISHED) & (F.col(CLASS) == KEEP)
    )
    return df.withColumns(
        {
            REASON: F.when(F.col(CLASS) == CONFLICT, F.lit(CONFLICTING_DUPLICATE)),
            DETAIL: F.when(F.col(CLASS) == CONFLICT, _detail(policy)),
        }
    ).drop(*_WORK)


def _in_fill_group() -> Column:
    return F.col(_GROUP) == _FILL_GROUP


def _with_groups(df: DataFrame) -> DataFrame:
    """Add _GROUP, the key's second part: _USUAL, _FILL_GROUP (a published unlabelled row
    and its labelled new copies), _UNLABELLED_COPY (a new unlabelled copy of a labelled
    row: EXACT)."""
    same = Window.partitionBy(*CONTENT)
    unlabelled = F.col("label").isNull()
    labelled_copy = F.max(~unlabelled).over(same)
    group = (
        F.when(unlabelled & labelled_copy & ~F.col(PUBLISHED), _UNLABELLED_COPY)
        .when(F.max(F.col(PUBLISHED) & unlabelled).over(same) & labelled_copy, _FILL_GROUP)
        .otherwise(_USUAL)
    )
    return df.withColumn(_GROUP, group)


def _with_versions(df: DataFrame, w: _GroupWindows) -> DataFrame:
    """Add each row's place among its group's versions and copies (__rn, __rk, __version),
    the version kept (__kept), the group's number of versions (__versions), whether a
    published row is among them (__has_published) and the published row a fill group
    takes the place of (__open)."""
    fill = _in_fill_group()
    published = F.first(F.when(F.col(PUBLISHED), F.struct(*CANONICAL_NAMES)), ignorenulls=True)
    # the published row a fill group takes the place of, seen by the transaction's other rows
    open_row = F.first(F.when(F.col(PUBLISHED) & fill, F.struct(*CANONICAL_NAMES)),
                       ignorenulls=True).over(Window.partitionBy("transaction_id"))  # fmt: skip
    new_versions = F.max(F.when(~F.col(PUBLISHED), F.col("__version"))).over(w.whole)
    # rank == row_number only on the first row of a run of identical rows
    df = df.withColumns(
        {
            "__rn": F.row_number().over(w.copies),
            "__rk": F.rank().over(w.ordered),
            "__version": F.dense_rank().over(w.ordered),
            "__open": open_row,
        }
    )
    return df.withColumns(
        {
            # a fill group's kept version is its first labelled copy, not the published row
            "__kept": F.coalesce(
                F.when(~fill, F.coalesce(published.over(w.whole), F.col("__open"))),
                F.first(F.struct(*CANONICAL_NAMES)).over(w.ordered),
            ),
            # a fill group's versions are its labelled copies (its published row comes last)
            "__versions": F.when(fill, new_versions).otherwise(F.max("__version").over(w.whole)),
            "__has_published": ~fill
            & (
                (F.max(F.col(PUBLISHED).cast("int")).over(w.whole) == 1)
                | F.col("__open").isNotNull()
            ),
        }
    )


def _class(policy: str) -> Column:
    """CLASS of a row of `_with_versions`."""
    fill = _in_fill_group()
    exact = (F.col("__rn") != F.col("__rk")) | (F.col(_GROUP) == _UNLABELLED_COPY)
    conflict = F.col("__versions") > 1
    # quarantine_all: a published row whose labelled copies disagree keeps its place
    stays = conflict if policy == "quarantine_all" else F.lit(False)
    if policy == "keep_earliest":
        conflict = conflict & (F.col("__version") > 1)
    return (
        F.when(exact, EXACT)
        .when(F.col(PUBLISHED) & fill, F.when(stays, KEEP).otherwise(FILLED))
        .when(F.col(PUBLISHED), KEEP)
        .when(fill, F.when(conflict, CONFLICT).otherwise(KEEP))
        .when(F.col("__has_published") | conflict, CONFLICT)
        .otherwise(KEEP)
    )


def _differs(c: str) -> Column:
    return ~F.col(c).eqNullSafe(F.col(f"__kept.{c}"))


def _detail(policy: str) -> Column:
    others = [c for c in CANONICAL_NAMES if c != "transaction_id"]
    differs = {c: _differs(c) for c in others}  # built once for both lists
    diff_names = F.concat_ws(", ", *[F.when(differs[c], F.lit(c)) for c in others])
    kept = F.concat_ws(
        ", ",
        *[
            F.when(
                differs[c],
                F.concat(
                    F.lit(f"{c}="), F.coalesce(F.col(f"__kept.{c}").cast("string"), F.lit("null"))
                ),
            )
            for c in others
        ],
    )
    head = F.concat(
        F.lit("transaction_id '"), F.col("transaction_id"), F.lit("' has "),
        F.col("__versions").cast("string"), F.lit(" different versions"),
    )  # fmt: skip
    if policy == "keep_earliest":
        usual = F.concat(
            head, F.lit("; this one differs from the kept (earliest) version in: "), diff_names,
            F.lit("; kept in the canonical table: "), kept,
            F.lit(" (etl.conflicting_duplicates: keep_earliest)"),
        )  # fmt: skip
    else:
        first_differs = F.when(
            F.length(diff_names) > 0,
            F.concat(F.lit("; this one differs from the earliest in: "), diff_names),
        ).otherwise(F.lit("; this is the earliest"))
        usual = F.concat(
            head, first_differs,
            F.lit("; none kept (etl.conflicting_duplicates: quarantine_all)"),
        )  # fmt: skip
    return F.when(F.col("__has_published"), _published_detail(diff_names, kept)).otherwise(usual)


def _published_detail(diff_names: Column, kept: Column) -> Column:
    return F.concat(
        F.lit("transaction_id '"), F.col("transaction_id"),
        F.lit("' is already in the canonical table with other values; this one differs in: "),
        diff_names, F.lit("; kept (published before): "), kept,
        F.lit(" (etl.mode: append never replaces a published row; it only fills in a missing label)"),
    )  # fmt: skip
