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
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fraud_app.etl.rules import CONFLICTING_DUPLICATE, DETAIL, REASON
from fraud_app.schema import CANONICAL_COLUMNS

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
KEEP, EXACT, CONFLICT = 0, 1, 2


def classify(valid: DataFrame, policy: str) -> DataFrame:
    """Add CLASS (KEEP / EXACT copy of a row already counted / CONFLICT version to
    quarantine) and, for CONFLICT rows, `reason` and `reason_detail`."""
    ordered = Window.partitionBy("transaction_id").orderBy(*dedup_order())
    whole = Window.partitionBy("transaction_id")
    # rank == row_number only on the first row of a run of identical rows
    df = valid.withColumns(
        {
            "__rn": F.row_number().over(ordered),
            "__rk": F.rank().over(ordered),
            "__version": F.dense_rank().over(ordered),
            "__kept": F.first(F.struct(*CANONICAL_NAMES)).over(ordered),
        }
    ).withColumn("__versions", F.max("__version").over(whole))
    exact = F.col("__rn") != F.col("__rk")
    conflict = F.col("__versions") > 1
    if policy == "keep_earliest":
        conflict = conflict & (F.col("__version") > 1)
    cls = F.when(exact, EXACT).when(conflict, CONFLICT).otherwise(KEEP)
    df = df.withColumn(CLASS, cls)
    return df.withColumns(
        {
            REASON: F.when(F.col(CLASS) == CONFLICT, F.lit(CONFLICTING_DUPLICATE)),
            DETAIL: F.when(F.col(CLASS) == CONFLICT, _detail(policy)),
        }
    ).drop("__rn", "__rk", "__version", "__kept", "__versions")


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
        return F.concat(
            head, F.lit("; this one differs from the kept (earliest) version in: "), diff_names,
            F.lit("; kept in the canonical table: "), kept,
            F.lit(" (etl.conflicting_duplicates: keep_earliest)"),
        )  # fmt: skip
    first_differs = F.when(
        F.length(diff_names) > 0,
        F.concat(F.lit("; this one differs from the earliest in: "), diff_names),
    ).otherwise(F.lit("; this is the earliest"))
    return F.concat(
        head, first_differs,
        F.lit("; none kept (etl.conflicting_duplicates: quarantine_all)"),
    )  # fmt: skip
