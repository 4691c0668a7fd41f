"""Deterministic pseudo-random Spark column expressions.

Every draw is a hash of (seed, salt, keys), so a value depends only on the seed and
on *which* row/entity it belongs to, never on partitioning or execution order: the
same seed gives identical rows on local[2] or on a cluster. (`F.rand(seed)` depends on
the partition layout, so it is not used.) Pure functions of Columns; no Spark session.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce
from operator import add

from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO53 = float(1 << 53)


def uniform(seed: int, salt: str, *keys: Column) -> Column:
    """U[0, 1) from xxhash64(seed, salt, keys): the top 53 bits as a double."""
    h = F.xxhash64(F.lit(seed), F.lit(salt), *keys)
    return F.shiftrightunsigned(h, 11).cast("double") / F.lit(_TWO53)


def normal(seed: int, salt: str, *keys: Column) -> Column:
    """Standard normal by Box-Muller on two hash uniforms."""
    u1 = F.lit(1.0) - uniform(seed, salt + "#1", *keys)  # (0, 1]: log is finite
    u2 = uniform(seed, salt + "#2", *keys)
    return F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(2 * math.pi) * u2)


def randint(seed: int, salt: str, n: int, *keys: Column) -> Column:
    """Uniform integer in [0, n) as a long."""
    return F.floor(uniform(seed, salt, *keys) * F.lit(float(n))).cast("long")


def choice(u: Column, weights: Sequence[float]) -> Column:
    """Index drawn with the given (unnormalised) weights, by inverse CDF on `u` ~ U[0,1)."""
    total = float(sum(weights))
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError(f"choice() needs non-negative weights with a positive sum: {weights}")
    if len(weights) == 1:
        return F.lit(0)
    cum = []
    for k in range(len(weights) - 1):
        rest = float(sum(weights[k + 1 :]))
        # thresholds above 1 keep trailing zero-weight categories unreachable despite rounding
        cum.append(float(sum(weights[: k + 1])) / total if rest > 0 else 2.0)
    # index = number of cumulative thresholds <= u; zero-weight categories are never hit
    return reduce(add, [(u >= F.lit(c)).cast("int") for c in cum])


def pick(index: Column, values: Sequence[str | float | int]) -> Column:
    """values[index] for a 0-based integer column."""
    return F.element_at(F.array(*[F.lit(v) for v in values]), index.cast("int") + F.lit(1))
