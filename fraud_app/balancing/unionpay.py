"""UnionPay-style balanced subsets (the BigDL UnionPay fraud-detection case study).

K subsets; each holds EVERY fraud plus a disjoint 1/K share of the normals, so K
models of an ensemble each see all frauds and, together, all normals. A normal's share
is pmod(hash(id, seed), K). With normal_ratio r a subset keeps at most
ceil(r * n_frauds) normals of its share: those with the smallest second hash (exact
counts via a row_number partitioned by share; rows of one id are ordered by a hash of
their content, so which copy of a repeated id is kept does not depend on the
partitioning either). All subsets are filters of ONE DataFrame
(`BalancedData.shared`): persisted, it is computed in one pass (one scan, one sort of the
normals) for all K subsets; not persisted, Spark pushes each subset's share filter below
the row_number, so each subset sorts only its own share. With r = None, or r large
enough, the union of the subsets' normals is exactly all normals.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, MapType, StructType

from fraud_app.balancing.base import BalancedData, BalancingStrategy, row_hash
from fraud_app.errors import EmptyInputError

logger = logging.getLogger(__name__)

SHARE, RANK = "_share", "_rank"


class UnionPaySubsets(BalancingStrategy):
    name = "unionpay_subsets"

    def __init__(self, *, n_subsets: int = 5, normal_ratio: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if n_subsets < 1:
            raise ValueError(f"n_subsets must be >= 1. Received: {n_subsets}")
        if normal_ratio is not None and normal_ratio <= 0:
            raise ValueError(f"normal_ratio must be > 0 or None. Received: {normal_ratio}")
        self.n_subsets = n_subsets
        self.normal_ratio = normal_ratio

    def _balance(self, df: DataFrame) -> BalancedData:
        k = self.n_subsets
        share = F.pmod(row_hash(self.id_column, self.seed), F.lit(k))
        counts = self.class_counts(df, by=F.when(self.label == 0, share))
        n_frauds = counts.get((1, None), 0)
        shares = [counts.get((0, i), 0) for i in range(k)]
        self.require_classes(n_frauds, sum(shares))
        # a ratio that caps no share is no cap (1e308 x frauds overflowed math.ceil)
        uncapped = self.normal_ratio is None or self.normal_ratio * n_frauds >= max(shares)
        cap = None if uncapped else math.ceil(self.normal_ratio * n_frauds)
        limits = [s if cap is None else min(s, cap) for s in shares]
        self._require_normals_in_every_subset(shares)
        binding = cap if cap is not None and cap < n_frauds else None  # the ratio's doing
        _warn_fraud_majority(
            n_frauds, sum(shares), limits, k, lambda most: self.fraud_majority_fix(most, binding)
        )

        normals = self.normals(df).withColumn(SHARE, share)
        if limits != shares:
            order = Window.partitionBy(SHARE).orderBy(
                row_hash(self.id_column, self.seed, salt=1),
                F.col(self.id_column),
                content_hash(df),
            )
            limit = F.element_at(
                F.array(*[F.lit(n) for n in limits]), (F.col(SHARE) + 1).cast("int")
            )
            normals = normals.withColumn(RANK, F.row_number().over(order))
            normals = normals.where(F.col(RANK) <= limit).drop(RANK)
        # ONE DataFrame holds every subset's rows (frauds tagged -1): each subset is a
        # filter of it, so BalancedData.persist() computes them all in one pass.
        selected = self.frauds(df).withColumn(SHARE, F.lit(-1)).unionByName(normals)
        subsets = [selected.where(F.col(SHARE).isin(-1, i)).drop(SHARE) for i in range(k)]
        summary = {
            "strategy": self.name,
            "seed": self.seed,
            "n_subsets": k,
            "normal_ratio": self.normal_ratio,
            "frauds": n_frauds,
            "normals": sum(shares),
            "unlabeled_rows_dropped": counts.get((None, None), 0),
            "subsets": [{"frauds": n_frauds, "normals": n} for n in limits],
            "normals_covered": sum(limits),
        }
        return BalancedData(tuple(subsets), summary, shared=selected)

    def _require_normals_in_every_subset(self, shares: list[int]) -> None:
        """A share without a normal would train a member on frauds only: it learns to score
        every row ~1 and drags the ensemble's mean up (session 46: 3 normals under 5 subsets
        trained two such members with only the fraud-majority WARNING). The cap keeps >= 1
        normal of a non-empty share (ceil of a positive), so only an empty share is empty."""
        empty = sum(1 for n in shares if n == 0)
        if empty:
            raise EmptyInputError(
                f"{self.error_prefix()}: {empty} of the {len(shares)} subsets hold "
                f"no normal (label = 0) row: the data's {sum(shares)} normals fall into the "
                f"subsets' hash shares as {shares}, and a member trained on such a subset sees "
                f"frauds only (it scores every row as fraud); {self.empty_share_fix(sum(shares))}"
            )

    def error_prefix(self) -> str:
        return f"balancing strategy {self.name!r}"

    def empty_share_fix(self, n_normals: int) -> str:
        """What the empty-subset error tells the user to do, in the settings they set."""
        return (
            f"set balancing.unionpay_subsets.n_subsets lower (at most the {n_normals} normals; "
            "fewer where shares collide), widen the training window, or use "
            "balancing.strategy: class_weights"
        )

    def fraud_majority_fix(self, most: int, cap: int | None = None) -> str:
        """What the fraud-majority WARNING tells the user to do, in the settings they set
        (here the config file's; BalancedBaggingClassifier's in its params). most: the
        largest subset count that keeps every subset normal-majority (0: none does); cap:
        the normals normal_ratio leaves each subset when that is fewer than the frauds
        (normal_ratio 0.01 x 10 frauds: 1 normal per subset, and the advice was "set
        n_subsets to at most 20", which changed nothing)."""
        if most < 1:
            return "the data holds more frauds than normals: use balancing.strategy: class_weights"
        return majority_fix(
            ("balancing.unionpay_subsets.n_subsets", "balancing.unionpay_subsets.normal_ratio"),
            self.n_subsets, self.normal_ratio, most, cap,
        ) + ", or balancing.strategy: class_weights"  # fmt: skip


def majority_fix(
    keys: tuple[str, str], k: int, ratio: float | None, most: int, cap: int | None
) -> str:
    """`set <subsets key> to at most most`, and / or `raise <ratio key>` when its cap binds.
    With k already at most `most` (and no cap), the hash split's uneven shares are the
    cause: the advice names a count below k (it said "at most 3" of 3 subsets: lead,
    session 55, from probe55a's note)."""
    subsets = f"set {keys[0]} to at most {most} (normals // frauds)"
    if k <= most:
        subsets = (
            f"set {keys[0]} to at most {max(1, k - 1)} (normals // frauds is {most}, and "
            f"{k} shares of the normals drawn by hash leave some below the frauds)"
        )
    if cap is None:
        return subsets
    raise_ratio = (
        f"raise {keys[1]} to at least 1 ({ratio:g} keeps ceil({keys[1].rsplit('.', 1)[-1]} x "
        f"frauds) = {cap} normal(s) per subset)"
    )
    return raise_ratio if k <= most else f"{raise_ratio} and {subsets}"


def content_hash(df: DataFrame) -> Column:
    """A hash of a row's columns (those Spark can hash: not maps): the last sort key of the
    capped selection. Rows sharing an id tied on (hash, id), and row_number broke the tie
    by the order rows reached the sort, so two copies of an id with different content
    changed places with the partitioning (the same seed gave local[1] and local[2] other
    subsets). Identical rows still tie, and either is the same row."""
    names = [f.name for f in df.schema.fields if not _holds_map(f.dataType)]
    return F.xxhash64(*[F.col("`" + n.replace("`", "``") + "`") for n in names])


def _holds_map(kind: DataType) -> bool:
    """xxhash64 refuses a map, also inside a struct or an array (HASH_MAP_TYPE)."""
    if isinstance(kind, MapType):
        return True
    if isinstance(kind, StructType):
        return any(_holds_map(f.dataType) for f in kind.fields)
    if isinstance(kind, ArrayType):
        return _holds_map(kind.elementType)
    return False


def _warn_fraud_majority(
    n_frauds: int, n_normals: int, limits: list[int], k: int, fix_for: Callable[[int], str]
) -> None:
    """One WARNING when a subset would hold more frauds than normals: balancing meant to
    raise the fraud share then reverses it (data with 20 % fraud under the starter's 5
    subsets: each member saw 673 frauds beside ~560 normals, without a word). The
    members still train; their scores rank, but a member's probabilities then lean to
    fraud. Names the largest n_subsets that keeps every subset normal-majority."""
    fewest = min(limits)
    if fewest >= n_frauds:
        return
    fix = fix_for(n_normals // n_frauds)
    logger.warning(
        "balancing unionpay_subsets: each of the %d subsets holds all %d frauds but only "
        "%d..%d normals (the data: %d normals, %.1f %% fraud): the members train on more "
        "frauds than normals, the reverse of the data; %s",
        k, n_frauds, fewest, max(limits), n_normals,
        100.0 * n_frauds / max(1, n_frauds + n_normals), fix,
    )  # fmt: skip
