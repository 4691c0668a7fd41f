"""The frames of one window stage, each window function once, as a helper column.

fraud_app.features.windows compiles every feature of an entity (or a `same:` pair) over
ONE window specification; `Frames` builds the window functions those features read.
Each (value, bounds) is built once per stage and becomes a helper column (`_w_<n>`):
the stage selects the window functions other window functions read (`refs`; none since
the exact running sums of session 52), then every other window function (`helpers`), then
the features, which name each
window function's column instead of holding its expression. A running std's expression
repeated the first-value window 16 times (15,729 characters), and the analyzer's passes
over a select cost what its expressions hold, not the plan below it (session 47: the 73
card features' select 4.9 s, the same select on an empty frame 4.7 s; docs/PROBES.md).
The same window functions, the same arithmetic on their values: the same values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pyspark.sql import Column, Window, WindowSpec
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError

# Helper columns fraud_app.features.compile adds before the entity stages.
TS, KNOWN, FRAUD, ROW = "_ts", "_known", "_fraud", "_row"
# Every other column the compiler adds to the data, by its name's beginning: the `same:`
# pair keys (keyed.pair_key_column), the novelty flags (novelty.Novelty.flag_column), the
# fraud-event columns (windows._event_column), the snapshot encodings' joined columns
# (encodings._Group.prefix). The stages' `_w_<n>` helpers pick a prefix of their own.
INTERNAL_PREFIXES = ("_key_", "_new__", "_ev_", "_enc<n>_")
_INTERNAL = re.compile(r"_(ts|known|fraud|row)|_(key_|new__|ev_|enc\d+_).*", re.IGNORECASE)


def check_internal_names(columns: Iterable[str]) -> None:
    """Refuse data columns named like the compiler's internal ones, ignoring case as Spark
    resolves names: a column `_ts` (or `_TS`) of the data met the timestamp helper
    (`[AMBIGUOUS_REFERENCE] Reference `_ts` is ambiguous`), and one named like a fraud
    rate's event column was summed into the rate (session 47, names47). Reads names only."""
    clashes = sorted({c for c in columns if _INTERNAL.fullmatch(c)})
    if clashes:
        raise SchemaError(
            f"input column(s) {clashes} are named like the feature compiler's internal "
            f"columns ({', '.join((TS, KNOWN, FRAUD, ROW))} and names beginning "
            f"{', '.join(INTERNAL_PREFIXES)}; compared ignoring case, as Spark does): "
            "rename or drop them before computing features"
        )


# Exact running sums (frame: running of a non-integer value): each value as DECIMAL(18, 5),
# rounded half up to 5 decimals: exact for amounts in any ISO 4217 minor unit (0-4
# decimals), one decimal more for a converted amount (rounded by <= 5e-6 of the base
# currency) or another column's value; |value| < 1e13 (1,000 x etl.bounds.max_amount's
# default). 18 digits, so a square is exact too (DECIMAL(37, 10): Spark keeps every
# decimal of a product of at most 38 digits). Running sums: DECIMAL(28, 5) (< 1e23), of
# squares DECIMAL(37, 10) (< 1e27: the window's difference of two then fits (38, 10)).
EXACT_SCALE = 5
VALUE_TYPE = "decimal(18,5)"
SQUARES_SUM_TYPE = "decimal(37,10)"
VALUE_LIMIT, SUM_LIMIT, SQUARES_LIMIT = "1e13", "1e23", "1e27"


def exact_value(value: Column) -> Column:
    """`value` as the exact running sums read it: DECIMAL(18, 5), rounded half up; null
    when null, not finite or |value| >= 1e13 (try_cast: under ANSI on and off)."""
    return value.try_cast(VALUE_TYPE)


def unholdable(value: Column) -> Column:
    """True where `exact_value(value)` is null for a value that is not (NaN, infinite,
    |value| >= 1e13), in double arithmetic: a try_cast to DECIMAL per row and column made
    the check a large part of the stage's cost (session 52 review52e). A DECIMAL column's
    value within 1e-3 of 1e13 reads as 1e13 (the nearest double) and counts too."""
    as_double = value.cast("double")
    return F.isnan(as_double) | (F.abs(as_double) >= F.lit(float(VALUE_LIMIT)))


def overflow_checks(feature: str, reads: Iterable[tuple[str, int, Column, Column, Column]]):
    """(condition, message) pairs: a value the exact sums cannot hold, on the row or
    earlier in its entity's history (`dropped`: their count before t; the row of such a
    value fails, but the scorer reads rows of history it does not compute, and their
    windows summed the others and counted it: review52e), a running sum that overflowed;
    each message names the feature and what to do."""
    checks, seen = [], set()
    advice = (
        f"; set `frame: sliding` on feature {feature} (Spark's own double aggregates over "
        "the window's rows), or bring the column into range"
    )
    for name, power, total, count, dropped in reads:
        if name not in seen:
            seen.add(name)
            value = F.col(name)
            what = (
                f" is not a finite number under {VALUE_LIMIT} in magnitude, which the "
                f"exact running sums of `frame: running` read (DECIMAL(18, 5)){advice}"
            )
            message = F.concat(
                F.lit(f"feature {feature}: {name} value "), value.cast("string"), F.lit(what)
            )
            checks.append((value.isNotNull() & unholdable(value), message))
            earlier = F.lit(f"feature {feature}: an earlier {name} value of the entity{what}")
            checks.append((dropped > 0, earlier))
        limit = SUM_LIMIT if power == 1 else SQUARES_LIMIT
        what = name if power == 1 else f"{name}^2"
        checks.append((
            total.isNull() & (count > 0),
            F.lit(
                f"feature {feature}: the exact running sum of {what} over an entity's "
                f"history reached {limit} (DECIMAL overflow of `frame: running`){advice}"
            ),
        ))  # fmt: skip
    return checks


def helper_prefix(columns: list[str]) -> str:
    """The prefix of a stage's helper columns: `_w_`, or `__w_`, `___w_`, ... the first
    that begins no column of the data (a column `_w_0` of one's own, or a `column`
    feature of it, met the helper of that name: `Reference `_w_0` is ambiguous`, and the
    helpers' drop took it too; review47f). The compiler's own columns never begin so."""
    prefix = "_w_"
    while any(c.startswith(prefix) for c in columns):
        prefix = "_" + prefix
    return prefix


@dataclass(frozen=True)
class Frames:
    """Builds the frame expressions of one entity's window, each (value, bound) once.

    `what` names the summed value ("rows", "sum:amount", ...) so that features sharing a
    running sum (mean and sum of the same window, counts of several windows) reuse the
    same helper column instead of building it again (fewer JVM round trips while
    planning, and Spark computes each once).
    """

    window: WindowSpec
    prefix: str = "_w_"
    _memo: dict[tuple, Column] = field(default_factory=dict)
    _shared: dict[str, Column] = field(default_factory=dict)
    refs: dict[str, Column] = field(default_factory=dict)  # name -> aliased window function
    helpers: dict[str, Column] = field(default_factory=dict)
    # (column, power, running sum, count of values, count of values before t the sums
    # cannot hold) of every exact_cum read, in order
    exact_reads: list[tuple[str, int, Column, Column, Column]] = field(default_factory=list)

    def shared(self, key: str, build: Callable[[], Column]) -> Column:
        """One Column per key for the whole stage (a Column is immutable, so the same one
        can sit in many expressions; every Column built is a few JVM round trips)."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]

    def over(self, value: Column, *, ref: bool = False) -> Column:
        """`value` (a window function) as a helper column of the stage (`ref`: one that
        other window functions read); the Column naming it."""
        name = f"{self.prefix}{len(self.refs) + len(self.helpers)}"
        (self.refs if ref else self.helpers)[name] = value.alias(name)
        return F.col(name)

    @property
    def names(self) -> list[str]:
        """The helper columns, for the stage to drop once the features are computed."""
        return [*self.refs, *self.helpers]

    @property
    def zero(self) -> Column:
        return self.shared("lit:0", lambda: F.lit(0))

    @property
    def row(self) -> Column:
        return self.shared("col:row", lambda: F.col(ROW))

    @property
    def is_row(self) -> Column:
        """True on data rows (False on fraud-event rows)."""
        return self.shared("is_row", lambda: self.row == 1)

    def cum(self, what: str, expr: Column, upto_us: int) -> Column:
        """Sum of expr over rows with ts <= t - upto_us (0 when there are none)."""
        key = (what, upto_us)
        if key not in self._memo:
            frame = self.window.rangeBetween(Window.unboundedPreceding, -upto_us)
            self._memo[key] = self.over(F.coalesce(F.sum(expr).over(frame), self.zero))
        return self._memo[key]

    def exact_cum(self, name: str, power: int, upto_us: int) -> Column:
        """The exact sum of `name`^power (1 or 2) over rows with ts <= t - upto_us, in
        DECIMAL (`exact_value`: scale 5; squares scale 10): 0 without values. Records the
        (column, power, sum, count) it reads in `exact_reads`, for the feature's overflow
        check (`overflow_checks`): the sum is null (try_sum) only without values or when
        it overflows DECIMAL(28, 5) / (37, 10)."""
        key = (f"exact{power}:{name}", upto_us)
        if key not in self._memo:
            value = exact_value(F.col(name))
            expr = value if power == 1 else value * value  # DECIMAL(37, 10): exact
            frame = self.window.rangeBetween(Window.unboundedPreceding, -upto_us)
            total = F.try_sum(expr).over(frame)
            if power == 2:  # (37, 10): the window's difference of two fits (38, 10), exact
                total = total.try_cast(SQUARES_SUM_TYPE)
            self._memo[key] = self.over(total)
        total = self._memo[key]
        present = F.col(name).isNotNull()
        count = self.cum(f"count:{name}", F.when(present, 1).otherwise(0), upto_us)
        # values the sums skip (try_cast's null) in all the entity's rows before t, a frame
        # of its own (one per column whatever the windows): every window of t reads them
        dropped = self.cum(f"dropped:{name}", F.when(unholdable(F.col(name)), 1), 1)
        self.exact_reads.append((name, power, total, count, dropped))
        return F.coalesce(total, self.zero)

    def exact_range(self, name: str, power: int, lo_us: int, hi_us: int) -> Column:
        """The exact sum of `name`^power over rows with t - lo_us <= ts < t - hi_us, a
        DECIMAL: the difference of two running sums (frame: running), the same whatever
        row the sums start at."""
        if lo_us <= hi_us:
            return self.zero
        return self.exact_cum(name, power, hi_us + 1) - self.exact_cum(name, power, lo_us + 1)

    def range_sum(
        self, what: str, expr: Column, lo_us: int, hi_us: int, *, sliding: bool = False
    ) -> Column:
        """Sum of expr over rows with t - lo_us <= ts < t - hi_us (lo_us > hi_us >= 0)."""
        if lo_us <= hi_us:
            return self.zero
        if sliding:
            return self.sliding(F.sum, expr, lo_us, hi_us, what=what, zero=True)
        return self.cum(what, expr, hi_us + 1) - self.cum(what, expr, lo_us + 1)

    def sliding(
        self, func, expr: Column, lo_us: int, hi_us: int, *, what: str, zero: bool = False
    ) -> Column:
        """func(expr) over rows with t - lo_us <= ts < t - hi_us (coalesced to 0 with
        `zero`), one helper column per (func, what, bounds)."""
        key = (f"{func.__name__}:{what}:{zero}", lo_us, hi_us)
        if key not in self._memo:
            value = func(expr).over(self.window.rangeBetween(-lo_us, -(hi_us + 1)))
            self._memo[key] = self.over(F.coalesce(value, self.zero) if zero else value)
        return self._memo[key]

    def select(self, stream, columns: list[Column]):
        """stream + the helper columns (first values, then the other window functions),
        then + `columns` (the features reading them)."""
        for helpers in (self.refs, self.helpers):
            stream = stream.select("*", *helpers.values()) if helpers else stream
        return stream.select("*", *columns)
