"""A run's quarantine rows per reason, with an example detail of each, answered as the
quarantine file is written.

`run_etl` reports its quarantine rows per reason and, per reason, the first detail in text
order (fraud_app.etl.outputs). That was a group-by over the written file: 2 Spark jobs
under AQE on every run, whatever its rows (session 43, helper etljobs43). The reasons are
a fixed set (fraud_app.etl.rules.REASON_CODES), so the question is a fixed aggregation:
per code a count and a min of the detail, observed on the quarantine's write
(`DataFrame.observe`: computed in the write's own tasks, reported when it ends). A file
without a row (a clean delivery) is known to hold none from its footer. The group-by runs
only when the observation is missing, or when its counts do not cover every row written
(a reason outside REASON_CODES, a null reason), so the result is the group-by's.

`fraud-app labels` observes the same aggregates on its feed's staging write for the rows
a per-row rule rejects (`rejected`; the rows without a reason counted apart), so that
its quarantine per reason needs no group-by either (session 43, helper labels43).

Owns the aggregates and their reading; the publishes (fraud_app.etl.publish,
fraud_app.etl.append_quarantine) attach them to their writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from fraud_app.etl.observed import OBSERVED_WAIT_S, observed_values
from fraud_app.etl.rules import DETAIL, REASON, REASON_CODES

_ROWS, _CLEAN = "__q_rows", "__q_clean"


def _count(i: int) -> str:
    return f"__q_n{i}"


def _first(i: int) -> str:
    return f"__q_d{i}"


def observe(rows: DataFrame) -> tuple[DataFrame, Observation]:
    """`rows` (quarantine rows, with `reason` and `reason_detail`) observed: its rows, those
    without a reason, and per reason code its rows and smallest detail."""
    observation = Observation()
    return rows.observe(observation, *[F.expr(a) for a in aggregates_sql()]), observation


@cache
def aggregates_sql() -> tuple[str, ...]:
    """The observed aggregates as SQL, one JVM round trip each: `count(1)`, the rows
    without a reason, and per code `count(CASE WHEN reason = '<code>' THEN 1 END)` and
    `min(CASE WHEN reason = '<code>' THEN reason_detail END)`, the expressions
    `F.count(F.when(F.col(REASON) == F.lit(code), 1))`... built Column by Column (~12 round
    trips a code, ~320 in all on every ETL and labels run; session 54)."""
    reason, detail = f"`{REASON}`", f"`{DETAIL}`"
    out = [f"count(1) AS `{_ROWS}`",
           f"count(CASE WHEN ({reason} IS NULL) THEN 1 END) AS `{_CLEAN}`"]  # fmt: skip
    for i, code in enumerate(REASON_CODES):
        if not code.replace("_", "").isalpha():  # a code is a word: quoted as it is
            raise ValueError(f"reason code {code!r}: expected letters and '_' only")
        hit = f"({reason} = '{code}')"
        out += [f"count(CASE WHEN {hit} THEN 1 END) AS `{_count(i)}`",
                f"min(CASE WHEN {hit} THEN {detail} END) AS `{_first(i)}`"]  # fmt: skip
    return tuple(out)


@dataclass(frozen=True)
class WrittenQuarantine:
    """A run's quarantine rows as written (`rows`: read back), their number (from the
    footers) and the observation of their write (None: not observed)."""

    rows: DataFrame
    count: int
    observation: Observation | None = None

    def by_reason(self) -> tuple[dict, dict[str, str | None]]:
        """({reason: rows}, {reason: its smallest detail}) of the rows written."""
        if self.count == 0:
            return {}, {}
        values = {}
        if self.observation is not None:
            values = observed_values(self.observation, OBSERVED_WAIT_S,
                                     "the quarantine's rows per reason",
                                     "counting the quarantine file with Spark instead")  # fmt: skip
        found = _from_observed(values, self.count)
        return found if found is not None else _grouped(self.rows)


def rejected(staged: DataFrame, written: int, observation: Observation) -> tuple[dict, dict]:
    """({reason: rows}, {reason: its smallest detail}) of the rows with a reason among the
    `written` rows of a staged input (`staged`: read back), from the `observation` of its
    write (`observe`), else a group-by of its rows with a reason (fraud-app labels' feed
    stage: session 43, helper labels43)."""
    values = observed_values(observation, OBSERVED_WAIT_S, "the feed's rejected rows per reason",
                             "counting the staged feed with Spark instead")  # fmt: skip
    found = _from_observed(values, written, clean=values.get(_CLEAN))
    return found if found is not None else _grouped(staged.filter(F.col(REASON).isNotNull()))


def _from_observed(values: dict, written: int, clean: int | None = 0) -> tuple[dict, dict] | None:
    """The counts and details observed; None when they do not account for every row
    (`clean` of them without a reason)."""
    if values.get(_ROWS) != written or clean is None:
        return None
    counts = {code: values[_count(i)] for i, code in enumerate(REASON_CODES) if values[_count(i)]}
    if sum(counts.values()) + clean != written:
        return None
    firsts = {code: values[_first(i)] for i, code in enumerate(REASON_CODES) if code in counts}
    return counts, firsts


def _grouped(written: DataFrame) -> tuple[dict, dict]:
    counted = written.groupBy(REASON).agg(F.count(F.lit(1)), F.min(DETAIL)).collect()
    return {r[0]: r[1] for r in counted}, {r[0]: r[2] for r in counted}
