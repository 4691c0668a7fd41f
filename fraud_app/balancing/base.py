"""What every class-balancing strategy shares: the result type, hashing, label checks.

A strategy turns a labelled DataFrame into one or more training DataFrames. It never
collects data to the driver: selection is by hashes of the row id (deterministic for a
seed, independent of partitioning and row order), and the only actions are small
aggregations of counts for the summary. Rows whose label is null (unknown) are left out
and counted; the label must be numeric, and any value but 1, 0 and null (2, -1, 0.5, NaN)
is refused (it was left out as "unlabeled" without a word). The strategies that draw
normals by id (`draws_by_id`) refuse a normal without an id: every such row hashed alike,
so all of them fell into one subset, or were kept or dropped together.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType

from fraud_app.errors import EmptyInputError, SchemaError

logger = logging.getLogger(__name__)

_UNIT_BITS = 53  # hash -> uniform [0, 1) at double precision
OTHER = -1  # class_counts' class of a label that is neither 1, 0 nor null


@dataclass(frozen=True)
class BalancedData:
    """Training DataFrames (one or more) and what went into them.

    shared: the one DataFrame every subset is a filter of (None when there is none).
    `persist()` caches it, so the subsets are computed (scan, shuffle, sort) ONCE for
    all of them instead of once per subset; `unpersist()` releases it.
    """

    subsets: tuple[DataFrame, ...]
    summary: dict[str, Any]
    weight_column: str | None = None
    shared: DataFrame | None = None

    def persist(self) -> BalancedData:
        if self.shared is not None:
            from pyspark import StorageLevel

            self.shared.persist(StorageLevel.MEMORY_AND_DISK)
        return self

    def unpersist(self) -> None:
        if self.shared is not None:
            self.shared.unpersist()


def row_hash(id_column: str, seed: int, salt: int = 0) -> Column:
    """A 64-bit hash of the row id for this seed (another salt gives an independent draw)."""
    return F.xxhash64(F.col(id_column).cast("string"), F.lit(seed), F.lit(salt))


def unit_uniform(id_column: str, seed: int, salt: int = 0) -> Column:
    """A deterministic pseudo-uniform number in [0, 1) per row id."""
    mask = F.lit((1 << _UNIT_BITS) - 1)
    return row_hash(id_column, seed, salt).bitwiseAND(mask) / F.lit(float(1 << _UNIT_BITS))


class BalancingStrategy(ABC):
    """Template: `balance` validates the input, then the subclass's `_balance` runs."""

    name: ClassVar[str]
    draws_by_id: ClassVar[bool] = True  # normals are drawn by a hash of their id

    def __init__(
        self, *, seed: int = 42, label_column: str = "label", id_column: str = "transaction_id"
    ) -> None:
        self.seed = seed
        self.label_column = label_column
        self.id_column = id_column

    def balance(self, df: DataFrame) -> BalancedData:
        missing = [c for c in (self.label_column, self.id_column) if c not in df.columns]
        if missing:
            raise SchemaError(
                f"balancing strategy {self.name!r} needs column(s) {missing}. "
                f"Received columns: {df.columns}"
            )
        self._check_label_type(df)
        result = self._balance(df)
        logger.info("balancing %s: %s", self.name, result.summary)
        return result

    def _check_label_type(self, df: DataFrame) -> None:
        """A boolean or text label failed inside Spark (`label = 1`: DATATYPE_MISMATCH /
        CAST_INVALID_INPUT tracebacks naming no setting)."""
        kind = df.schema[self.label_column].dataType
        if not isinstance(kind, NumericType):
            raise SchemaError(
                f"balancing strategy {self.name!r}: label column {self.label_column!r} is "
                f"{kind.simpleString()}; expected a numeric column holding 1 (fraud), 0 (normal) "
                f"or null (unknown). Cast it first, e.g. "
                f"df.withColumn({self.label_column!r}, F.col({self.label_column!r}).cast('int'))"
            )

    @abstractmethod
    def _balance(self, df: DataFrame) -> BalancedData: ...

    @property
    def label(self) -> Column:
        return F.col(self.label_column)

    def frauds(self, df: DataFrame) -> DataFrame:
        return df.where(self.label == 1)

    def normals(self, df: DataFrame) -> DataFrame:
        return df.where(self.label == 0)

    def class_counts(self, df: DataFrame, by: Column | None = None) -> dict[tuple[Any, Any], int]:
        """{(class, by-value): rows} in one aggregation; class is 1, 0 or None (unknown)."""
        cls = F.when(self.label == 1, F.lit(1)).when(self.label == 0, F.lit(0))
        cls = cls.when(self.label.isNotNull(), F.lit(OTHER))
        keys = [cls.alias("c"), (by if by is not None else F.lit(None)).alias("b")]
        no_id = F.count(F.when(F.col(self.id_column).isNull(), 1)).alias("no_id")
        rows = (
            df.groupBy(*keys)
            .agg(
                F.count(F.lit(1)).alias("n"),
                no_id,
                F.min(self.label).alias("lo"),
                F.max(self.label).alias("hi"),
            )
            .collect()
        )  # one row per (class, bucket): small
        self._require_binary_labels([(r["n"], r["lo"], r["hi"]) for r in rows if r["c"] == OTHER])
        if self.draws_by_id:
            self._require_ids(sum(r["no_id"] for r in rows if r["c"] == 0))
        return {(r["c"], r["b"]): r["n"] for r in rows}

    def _require_binary_labels(self, other: list[tuple[int, Any, Any]]) -> None:
        """Labels 2, -1, 0.5 or NaN were counted as `unlabeled_rows_dropped` and left out:
        a third class (a disputed chargeback coded 2) vanished from training unseen."""
        if other:
            lo, hi = min(o[1] for o in other), max(o[2] for o in other)
            raise SchemaError(
                f"balancing strategy {self.name!r}: {sum(o[0] for o in other)} row(s) of label "
                f"column {self.label_column!r} hold a value other than 1 (fraud), 0 (normal) or "
                f"null (unknown): from {lo!r} to {hi!r}. Map them to 1 or 0, or to null to leave "
                "those rows out"
            )

    def _require_ids(self, missing: int) -> None:
        """Normals are drawn by a hash of their id: xxhash64 skips a null, so every normal
        without an id hashed to the same value and all of them fell into one UnionPay
        subset (or were all kept, or all dropped, by undersample), without a word."""
        if missing:
            raise SchemaError(
                f"balancing strategy {self.name!r}: {missing} normal (label = 0) row(s) have a "
                f"null {self.id_column!r}; normals are drawn by a hash of their id, so all of "
                "those rows would be drawn as one. Expected a non-null id per row: fill the ids "
                "(e.g. a hash of the row's columns) or drop those rows"
            )

    def require_classes(self, n_frauds: int, n_normals: int) -> None:
        """Both classes: without normals a model of frauds only trains without an error and
        scores with NaN AUC / AP (nothing to rank against)."""
        if n_frauds == 0:
            raise EmptyInputError(
                f"balancing strategy {self.name!r}: the data holds no fraud (label = 1) rows; "
                "widen the training window or check the labels"
            )
        if n_normals == 0:
            raise EmptyInputError(
                f"balancing strategy {self.name!r}: the data holds no normal (label = 0) rows, "
                f"only {n_frauds} fraud(s): a classifier needs both classes; train on all the "
                "transactions, not only the confirmed frauds, or check the labels (etl.columns.label)"
            )
