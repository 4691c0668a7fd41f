"""What every class-balancing strategy shares: the result type, hashing, label checks.

A strategy turns a labelled DataFrame into one or more training DataFrames. It never
collects data to the driver: selection is by hashes of the row id (deterministic for a
seed, independent of partitioning and row order), and the only actions are small
aggregations of counts for the summary. Rows whose label is neither 0 nor 1 (unknown)
are left out and counted.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.errors import EmptyInputError, SchemaError

logger = logging.getLogger(__name__)

_UNIT_BITS = 53  # hash -> uniform [0, 1) at double precision


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
        result = self._balance(df)
        logger.info("balancing %s: %s", self.name, result.summary)
        return result

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
        keys = [cls.alias("c"), (by if by is not None else F.lit(None)).alias("b")]
        rows = df.groupBy(*keys).count().collect()  # one row per (class, bucket): small
        return {(r["c"], r["b"]): r["count"] for r in rows}

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
