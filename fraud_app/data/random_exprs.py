"""Deterministic pseudo-random Spark column expressions.

Every draw is a hash of (seed, salt, key columns), so a value depends only on the seed
and on *which* row/entity it belongs to, never on partitioning or execution order: the
same seed gives identical rows on local[2] or on a cluster. (`F.rand(seed)` depends on
the partition layout, so it is not used.)

Draws are built as SQL text and parsed once by `F.expr`: building the same trees from
`F.*` calls costs one Py4J round trip per node (~17,000 for the generator's plan).
Keys are column *names*; salts are fixed identifiers of this package.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO_POW_MINUS_53 = repr(2.0**-53)
_SALT = re.compile(r"^[A-Za-z0-9_.#]+$")
LOOKUP_SIZE = 4096  # resolution of choice(): probabilities are rounded to 1/4096


def hash_sql(seed: int, salt: str, *keys: str) -> str:
    """SQL for xxhash64(seed, salt, key columns): a long."""
    if not _SALT.match(salt) or not keys:
        raise ValueError(f"bad salt {salt!r} or no key columns")
    cols = ", ".join(f"`{k}`" for k in keys)
    return f"xxhash64({int(seed)}, '{salt}', {cols})"


def uniform_sql(seed: int, salt: str, *keys: str) -> str:
    """SQL for U[0, 1): the top 53 bits of the hash as a double."""
    bits = f"shiftrightunsigned({hash_sql(seed, salt, *keys)}, 11)"
    return f"(CAST({bits} AS DOUBLE) * {_TWO_POW_MINUS_53})"


def uniform(seed: int, salt: str, *keys: str) -> Column:
    return F.expr(uniform_sql(seed, salt, *keys))


def normal(seed: int, salt: str, *keys: str) -> Column:
    """Standard normal by Box-Muller on two hash uniforms."""
    u1 = f"(1.0D - {uniform_sql(seed, salt + '#1', *keys)})"  # (0, 1]: ln is finite
    u2 = uniform_sql(seed, salt + "#2", *keys)
    return F.expr(f"sqrt(-2.0D * ln({u1})) * cos({2 * math.pi!r}D * {u2})")


def randint(seed: int, salt: str, n: int, *keys: str) -> Column:
    """Uniform integer in [0, n) as a long."""
    return F.expr(f"CAST(floor({uniform_sql(seed, salt, *keys)} * {float(n)!r}D) AS BIGINT)")


def choice(u: Column, weights: Sequence[float]) -> Column:
    """Index drawn with the given (unnormalised) weights from `u` ~ U[0,1), through a
    lookup table of inverse-CDF values (zero-weight categories are never drawn).

    The table maps each of LOOKUP_SIZE bins of `u` to an index and is non-decreasing, so
    it is written as one CASE over the bin with a branch per run of equal entries (a
    handful), not as a LOOKUP_SIZE-element array literal: the same values, but a plan
    Spark analyses in a fraction of the time (the generator's plan has ~25 draws; with
    the arrays, building it took 20-40 s of driver time on a loaded machine, 5-8 s now).
    """
    runs = choice_runs(weights)
    if len(runs) == 1:
        return F.lit(runs[0][0])
    b = F.floor(u * F.lit(float(LOOKUP_SIZE)))
    expr = F.when(b < F.lit(runs[0][1]), F.lit(runs[0][0]))
    for index, end in runs[1:-1]:
        expr = expr.when(b < F.lit(end), F.lit(index))
    return expr.otherwise(F.lit(runs[-1][0]))


def choice_table(weights: Sequence[float]) -> list[int]:
    """The lookup table: bin b (of LOOKUP_SIZE) -> the index whose CDF step holds its middle."""
    total = float(sum(weights))
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError(f"choice() needs non-negative weights with a positive sum: {weights}")
    if len(weights) == 1:
        return [0] * LOOKUP_SIZE
    cum = [sum(weights[: k + 1]) / total for k in range(len(weights))]
    table, k = [], 0
    for b in range(LOOKUP_SIZE):
        mid = (b + 0.5) / LOOKUP_SIZE
        while cum[k] <= mid:
            k += 1
        table.append(k)
    return table


def choice_runs(weights: Sequence[float]) -> list[tuple[int, int]]:
    """The lookup table as (index, end bin exclusive) runs, in bin order."""
    runs: list[list[int]] = []
    for b, index in enumerate(choice_table(weights)):
        if runs and runs[-1][0] == index:
            runs[-1][1] = b + 1
        else:
            runs.append([index, b + 1])
    return [(index, end) for index, end in runs]


def pick(index: Column, values: Sequence[str | float | int]) -> Column:
    """values[index] for a 0-based integer column (values: numbers or plain strings)."""
    items = ", ".join(_sql_literal(v) for v in values)
    return F.element_at(F.expr(f"array({items})"), index.cast("int") + F.lit(1))


def _sql_literal(v: str | float | int) -> str:
    if isinstance(v, str):
        if "'" in v or "\\" in v:
            raise ValueError(f"pick(): unsupported string value {v!r}")
        return f"'{v}'"
    if isinstance(v, bool):
        raise ValueError("pick(): booleans are not supported")
    return str(v) if isinstance(v, int) else f"{float(v)!r}D"
