"""Registry of window aggregation kinds (`aggregation:` in a `window_agg` feature spec).

Every aggregation is a closed form of a few *components* (count, sum, the sum of
squared deviations from the frame's mean `m2`, max, min, the set of distinct values)
over a window frame. The window compiler
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

COMPONENTS: tuple[str, ...] = ("count", "sum", "m2", "max", "min", "distinct")


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
    # Sample standard deviation from m2 (never from sumsq - sum^2 / n: that difference of
    # two large numbers left ~1e-6 of "spread" in a window of identical amounts, 49.99 a
    # day, so the z-score of the next amount was 3e7; see fraud_app.features.windows).
    n = c["count"]
    return F.when(n > 1, F.sqrt(F.greatest(c["m2"] / (n - 1), F.lit(0.0))))


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
        Aggregation("std", ("count", "sum", "m2"), _std),
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
    """Components of the frame plus the current row's `value` (for include_current).

    A null `value` adds nothing, as a null row of the frame adds nothing to its
    components: the frame's own sum, mean and std (a null current value had made the sum
    null, so `sum_incl` read 0.0 and `mean_incl` / `std_incl` the fill, session 50)."""
    out: dict[str, Column] = {}
    present = value.isNotNull()
    for name, col in components.items():
        if name == "count":  # `count` passes a literal 1: every row counts
            out[name] = col + F.when(present, F.lit(1)).otherwise(F.lit(0))
        elif name == "sum":
            out[name] = F.coalesce(col, F.lit(0.0)) + F.coalesce(value, F.lit(0.0))
        elif name == "m2":  # Welford's one-row update: m2 + (x - mean)^2 * n / (n + 1)
            n, total = components["count"], F.coalesce(components["sum"], F.lit(0.0))
            step = (value - total / n) * (value - total / n) * n / (n + F.lit(1))
            out[name] = (
                F.when(~present, col)
                .when(n > 0, F.coalesce(col, F.lit(0.0)) + step)
                .otherwise(F.lit(0.0))
            )
        elif name == "max":
            out[name] = F.greatest(col, value)  # greatest/least skip nulls
        elif name == "min":
            out[name] = F.least(col, value)
        elif name == "distinct":  # a set: the current value joins it unless null or present
            out[name] = F.when(value.isNull(), col).otherwise(F.array_union(col, F.array(value)))
        else:
            raise AssertionError(f"unknown component {name!r}")
    return out
