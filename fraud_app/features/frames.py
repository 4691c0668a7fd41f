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


# Exact running sums (frame: running of a non-integer value), session 53 (fast53): each
# value as a whole number of 1e-5 units, u = rint(value * 1e5) (a 64-bit integer): exact
# for amounts in any ISO 4217 minor unit (0-4 decimals) and 5 decimals while |value| <
# 2e10, else within 1e-5 (one unit); |value| < 9e10 (|u| < 2^53; 9 x etl.bounds.max_amount's
# default). Its running sums are sums of LONG limbs of 26 bits (`LIMBS`): u = a 2^26 + b
# (a = u >> 26, 0 <= b < 2^26) and u^2 = a^2 2^52 + 2 a b 2^26 + b^2, each product split
# again into a high and a low limb, so that every term is below 2^28 in magnitude and no
# running sum can overflow before an entity's 2^35th row (34 billion): the sums are exact
# integers, and a window's difference of two of them is the window's exact sum, the same
# whatever row they start at. Spark sums LONGs in registers; the DECIMAL running sums of
# session 52 (java BigDecimal past 18 digits) made the window stage ~6.8x the double sums.
EXACT_SCALE = 5
UNITS = 10**EXACT_SCALE
LIMB = 26
MASK = (1 << LIMB) - 1
VALUE_LIMIT = "9e10"
# A window's sum (in units) the exact std / z-score computes with (`windows._exact_m2`):
# |sum| < 2^60 units (1.15e13).
WINDOW_SUM_LIMIT = 2**60
WINDOW_SUM_TEXT = "1.15e13"
# ... and a window's count of values: n < 2^34 (17 billion) keeps n c and n 2^26 (the
# rounded mean's limbs times the count) within 2^61 (session 54: unchecked before).
WINDOW_COUNT_LIMIT = 2**34
WINDOW_COUNT_TEXT = "2^34 (17,179,869,184)"
# The limbs of the running sums: name -> (power, function of (a, b) giving its terms).
LIMBS: dict[str, tuple[int, Callable[[Column, Column], Column]]] = {
    "a": (1, lambda a, b: a),  # the sum: A 2^26 + B
    "b": (1, lambda a, b: b),
    "aa_hi": (2, lambda a, b: F.shiftright(a * a, LIMB)),  # the squares' 2^78 limb
    "aa_lo": (2, lambda a, b: (a * a).bitwiseAND(F.lit(MASK))),  # 2^52
    "ab_hi": (2, lambda a, b: F.shiftright(a * b, LIMB)),  # 2 x 2^52
    "ab_lo": (2, lambda a, b: (a * b).bitwiseAND(F.lit(MASK))),  # 2 x 2^26
    "bb_hi": (2, lambda a, b: F.shiftright(b * b, LIMB)),  # 2^26
    "bb_lo": (2, lambda a, b: (b * b).bitwiseAND(F.lit(MASK))),  # 1
}


def exact_value(value: Column) -> Column:
    """`value` as the exact running sums read it: a LONG of 1e-5 units, rint(value * 1e5)
    (round half even of the double product); null when null, not finite or |value| >=
    9e10 (`unholdable`)."""
    as_double = value.cast("double")
    holdable = F.abs(as_double) < F.lit(float(VALUE_LIMIT))  # false for NaN
    return F.when(holdable, F.rint(as_double * F.lit(float(UNITS)))).cast("long")


def unholdable(value: Column) -> Column:
    """True where `exact_value(value)` is null for a value that is not (NaN, infinite,
    |value| >= 9e10), in double arithmetic."""
    as_double = value.cast("double")
    return F.isnan(as_double) | (F.abs(as_double) >= F.lit(float(VALUE_LIMIT)))


def window_fits(total: Column, count: Column) -> Column:
    """True where a window's sum (`total`, units, a double) and count of values are within
    what the exact m2 (windows._exact_m2) computes with in 64-bit integers: |sum| < 2^60
    units and count < 2^34. Both are the window's own, the same from every start."""
    sums = F.abs(total) < F.lit(float(WINDOW_SUM_LIMIT))
    return sums & (count < F.lit(WINDOW_COUNT_LIMIT))


def overflow_checks(feature: str, reads: Iterable[tuple[str, str, Column, Column, Column]]):
    """(condition, message) pairs: a value the exact sums cannot hold, on the row or
    earlier in its entity's history (`dropped`: their count before t; the row of such a
    value fails, but the scorer reads rows of history it does not compute, and their
    windows summed the others and counted it: review52e), and for a std / z-score
    (`kind` "window") a window whose sum or count of values reached what its exact m2
    computes with; each message names the feature and what to do. A window's sums are the
    same from every start of the history, so the full build and the scorer fail on the
    same rows. `reads`: (column, kind, window sum, window count, dropped) each."""
    checks, seen = [], set()
    advice = (
        f"; set `frame: sliding` on feature {feature} (Spark's own double aggregates over "
        "the window's rows), or bring the column into range"
    )
    for name, kind, total, count, dropped in reads:
        if name not in seen:
            seen.add(name)
            value = F.col(name)
            what = (
                f" is not a finite number under {VALUE_LIMIT} in magnitude, which the "
                f"exact running sums of `frame: running` read (64-bit integers of 1e-5)"
                f"{advice}"
            )
            message = F.concat(
                F.lit(f"feature {feature}: {name} value "), value.cast("string"), F.lit(what)
            )
            checks.append((value.isNotNull() & unholdable(value), message))
            earlier = F.lit(f"feature {feature}: an earlier {name} value of the entity{what}")
            checks.append((dropped > 0, earlier))
        if kind == "window":
            checks.append((
                F.abs(total) >= F.lit(float(WINDOW_SUM_LIMIT)),
                F.lit(
                    f"feature {feature}: the sum of {name} over one window reached "
                    f"{WINDOW_SUM_TEXT} in magnitude (2^60 units of 1e-5, the limit of the "
                    f"exact std of `frame: running`){advice}"
                ),
            ))  # fmt: skip
            checks.append((
                count >= F.lit(WINDOW_COUNT_LIMIT),
                F.concat(
                    F.lit(f"feature {feature}: one window holds "), count.cast("string"),
                    F.lit(
                        f" values of {name}, at or past {WINDOW_COUNT_TEXT}, the limit of the "
                        f"exact std of `frame: running` (its 64-bit integer products){advice}"
                    ),
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
    derived: list[dict[str, Column]] = field(default_factory=list)  # `derive`'s, by level
    # (column, kind, window sum, window count, count of values before t the sums cannot
    # hold) of every exact read (`exact_read`), in order
    exact_reads: list[tuple[str, str, Column, Column, Column]] = field(default_factory=list)

    def shared(self, key: str, build: Callable[[], Column]) -> Column:
        """One Column per key for the whole stage (a Column is immutable, so the same one
        can sit in many expressions; every Column built is a few JVM round trips)."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]

    def over(self, value: Column, *, ref: bool = False) -> Column:
        """`value` (a window function) as a helper column of the stage (`ref`: one that
        other window functions read); the Column naming it."""
        name = f"{self.prefix}{len(self.names)}"
        (self.refs if ref else self.helpers)[name] = value.alias(name)
        return F.col(name)

    def derive(self, level: int, key: str, build: Callable[[], Column]) -> Column:
        """A row-wise value of the window functions' columns as a helper column of its own,
        in the `level`th select after them (0 first), once per key; the Column naming it.
        The exact std's integer arithmetic (windows._exact_m2) in one expression repeated
        each step's subexpressions: ~2,000 nodes per m2, and 50,000 rows took 117 s
        instead of 13 s with each step a column (session 53, fast53, docs/PROBES.md)."""
        if key not in self._shared:
            value = build()  # first: it may add window functions, which take names
            while len(self.derived) <= level:
                self.derived.append({})
            name = f"{self.prefix}{len(self.names)}"
            self.derived[level][name] = value.alias(name)
            self._shared[key] = F.col(name)
        return self._shared[key]

    @property
    def names(self) -> list[str]:
        """The helper columns, for the stage to drop once the features are computed."""
        return [*self.refs, *self.helpers, *(n for level in self.derived for n in level)]

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

    def _limb_term(self, name: str, limb: str) -> Column:
        """The row's term of one limb (`LIMBS`) of `name`'s exact value (null without one)."""
        units = self.shared(f"units:{name}", lambda: exact_value(F.col(name)))
        a = self.shared(f"units_a:{name}", lambda: F.shiftright(units, LIMB))
        b = self.shared(f"units_b:{name}", lambda: units.bitwiseAND(F.lit(MASK)))
        return LIMBS[limb][1](a, b)

    def exact_cum(self, name: str, limb: str, upto_us: int) -> Column:
        """The running sum of one limb (`LIMBS`) of `name`'s exact value over rows with
        ts <= t - upto_us: a LONG, exact (0 without values)."""
        key = (f"exact:{limb}:{name}", upto_us)
        if key not in self._memo:
            frame = self.window.rangeBetween(Window.unboundedPreceding, -upto_us)
            total = F.sum(self._limb_term(name, limb)).over(frame)
            self._memo[key] = self.over(F.coalesce(total, self.zero))
        return self._memo[key]

    def exact_now(self, name: str, limb: str) -> Column:
        """The current row's own term of one limb of `name`'s exact value, 0 without one
        (null, or a value the sums cannot hold: the row's check fails it): what
        include_current adds to a running frame's exact sums (session 54: the raw double
        had been added to them, so a value of 9 decimals counted with all of them in its
        own row's `_incl` sum, mean and std, and with 5 in every later window)."""
        key = f"now:{limb}:{name}"
        return self.shared(key, lambda: F.coalesce(self._limb_term(name, limb), self.zero))

    def exact_range(self, name: str, limb: str, lo_us: int, hi_us: int) -> Column:
        """The exact sum of one limb of `name` over rows with t - lo_us <= ts < t - hi_us,
        a LONG: the difference of two running sums (frame: running), the same whatever row
        the sums start at."""
        if lo_us <= hi_us:
            return self.zero
        return self.exact_cum(name, limb, hi_us + 1) - self.exact_cum(name, limb, lo_us + 1)

    def exact_read(self, name: str, kind: str, total: Column, count: Column | None = None) -> None:
        """Records a read of `name`'s exact sums for the feature's checks
        (`overflow_checks`): `kind` "sum" (the values' checks), "window" (a std's window
        sum, `total`, in units, as a double, and its `count` of values, too)."""
        # values the sums skip (exact_value's null) in all the entity's rows before t, a
        # frame of its own (one per column whatever the windows): every window of t reads them
        dropped = self.cum(f"dropped:{name}", F.when(unholdable(F.col(name)), 1), 1)
        count = self.zero if count is None else count
        self.exact_reads.append((name, kind, total, count, dropped))

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
        """stream + the helper columns (first values, then the other window functions,
        then the derived values level by level), then + `columns` (the features reading
        them)."""
        for helpers in (self.refs, self.helpers, *self.derived):
            stream = stream.select("*", *helpers.values()) if helpers else stream
        return stream.select("*", *columns)
