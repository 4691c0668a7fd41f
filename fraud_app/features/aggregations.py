"""Registry of window aggregation kinds (`aggregation:` in a `window_agg` feature spec).

Every aggregation is a closed form of a few *components* (count, sum, sum of squares,
max, min, the set of distinct values) over a window frame. The window compiler
(fraud_app.features.windows) computes each component once per (entity, column, window)
and shares it between aggregations;
this module only says which components an aggregation needs and how to combine them.
"including current" variants fold the current row into the components
(`with_current`) before the same closed form runs, so both variants share one code path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.errors import FeatureSpecError

COMPONENTS: tuple[str, ...] = ("count", "sum", "sumsq", "max", "min", "distinct")


@dataclass(frozen=True)
class Aggregation:
    name: str
    components: tuple[str, ...]
    finalize: Callable[[Mapping[str, Column]], Column]
    needs_column: bool = True  # False: the aggregation ignores the value column (count)
    numeric: bool = True  # False: any column type, no `relative_to` (count_distinct)


def _count(c: Mapping[str, Column]) -> Column:
    return c["count"].cast("double")


def _sum(c: Mapping[str, Column]) -> Column:
    return F.coalesce(c["sum"], F.lit(0.0))


def _mean(c: Mapping[str, Column]) -> Column:
    return F.when(c["count"] > 0, c["sum"] / c["count"])


def _std(c: Mapping[str, Column]) -> Column:
    # Sample standard deviation from the power sums; clamped at 0 against rounding.
    n = c["count"]
    var = (c["sumsq"] - c["sum"] * c["sum"] / n) / (n - 1)
    return F.when(n > 1, F.sqrt(F.greatest(var, F.lit(0.0))))


def _distinct(c: Mapping[str, Column]) -> Column:
    return F.size(c["distinct"]).cast("double")


AGGREGATIONS: dict[str, Aggregation] = {
    a.name: a
    for a in (
        Aggregation("count", ("count",), _count, needs_column=False),
        Aggregation("sum", ("sum",), _sum),
        Aggregation("mean", ("count", "sum"), _mean),
        Aggregation("max", ("max",), lambda c: c["max"]),
        Aggregation("min", ("min",), lambda c: c["min"]),
        Aggregation("std", ("count", "sum", "sumsq"), _std),
        # exact: the size of the set of non-null values (collect_set over the frame), so
        # the value does not depend on the order of rows or partitions (no sketch)
        Aggregation("count_distinct", ("distinct",), _distinct, numeric=False),
    )
}


def get_aggregation(name: str) -> Aggregation:
    try:
        return AGGREGATIONS[name]
    except KeyError:
        raise FeatureSpecError(
            f"unknown aggregation {name!r}. Valid aggregations: {sorted(AGGREGATIONS)}"
        ) from None


def with_current(components: Mapping[str, Column], value: Column) -> dict[str, Column]:
    """Components of the frame plus the current row's `value` (for include_current)."""
    out: dict[str, Column] = {}
    for name, col in components.items():
        if name == "count":
            out[name] = col + F.lit(1)
        elif name == "sum":
            out[name] = F.coalesce(col, F.lit(0.0)) + value
        elif name == "sumsq":
            out[name] = F.coalesce(col, F.lit(0.0)) + value * value
        elif name == "max":
            out[name] = F.greatest(col, value)  # greatest/least skip nulls
        elif name == "min":
            out[name] = F.least(col, value)
        elif name == "distinct":  # a set: the current value joins it unless null or present
            out[name] = F.when(value.isNull(), col).otherwise(F.array_union(col, F.array(value)))
        else:
            raise AssertionError(f"unknown component {name!r}")
    return out
