"""Feature checks on the training window: constant and near-constant features.

A feature that takes one value on (almost) every training row carries (almost) no
information: an all-null input that ETL filled, a risk window that never sees a label,
a fill value that dominates. Training warns about them (ONE warning listing them) and
the training report lists them; nothing is dropped, the choice stays with the user.

constant: min == max over the window. near-constant: the (1 - share) / 2 and
1 - (1 - share) / 2 quantiles coincide (approximate quantiles, one Spark job), so at
least about `share` of the rows hold one value.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError

logger = logging.getLogger(__name__)

NEAR_CONSTANT_SHARE = 0.99


def constant_features(
    df: DataFrame,
    names: Sequence[str],
    *,
    vector_column: str | None = None,
    share: float = NEAR_CONSTANT_SHARE,
) -> dict[str, list[str]]:
    """{"constant": [...], "near_constant": [...]} among the features `names` of `df`.

    Each feature is read from its own column when `df` has one, else from its position in
    `vector_column` (a feature table may carry only the vector)."""
    if not names:
        return {"constant": [], "near_constant": []}
    tail = (1.0 - share) / 2.0
    aggs = []
    for i, name in enumerate(names):
        col = _feature_column(df, name, i, vector_column)
        aggs += [
            F.min(col).alias(f"mn{i}"),
            F.max(col).alias(f"mx{i}"),
            F.percentile_approx(col, [tail, 1.0 - tail], 10_000).alias(f"q{i}"),
        ]
    row = df.agg(*aggs).first()
    constant, near = [], []
    for i, name in enumerate(names):
        lo, hi, q = row[f"mn{i}"], row[f"mx{i}"], row[f"q{i}"]
        if lo is None or lo == hi:
            constant.append(name)
        elif q is not None and q[0] == q[1]:
            near.append(name)
    if constant or near:
        logger.warning(
            "feature check on the training window: %d constant feature(s) %s and %d "
            "near-constant (>= %.0f%% of rows share one value) %s; they carry little or no "
            "information (inputs missing from the data, or windows without labels?)",
            len(constant), constant, len(near), 100 * share, near,
        )  # fmt: skip
    return {"constant": constant, "near_constant": near}


def _feature_column(df: DataFrame, name: str, index: int, vector_column: str | None) -> Column:
    if name in df.columns:
        return F.col(f"`{name}`")
    if vector_column and vector_column in df.columns:
        return F.col(f"`{vector_column}`")[index]
    raise SchemaError(
        f"feature check: the table has neither a column `{name}` nor the vector column "
        f"{vector_column!r}; expected one of them. Received columns: {df.columns}"
    )
