"""The dates of a requested range that hold no rows, named for `score` and `evaluate`.

A scheduler's range can run ahead of the deliveries: the job then succeeds on the dates
it found, and the summary listed only those, so "not delivered yet" read like "a day
without alerts". Owns the list and its WARNING; not the jobs themselves.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)


def dates_without_rows(start: dt.date, end: dt.date, present: Iterable) -> list[str]:
    """The dates of start..end (inclusive) not in `present` (dates or ISO strings), as ISO."""
    seen = {str(d) for d in present}
    days = ((start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1))
    return [day for day in days if day not in seen]


def warn_dates_without_rows(step: str, start, end, empty: list[str], table: str) -> None:
    if not empty:
        return
    shown = ", ".join(empty) if len(empty) <= 6 else f"{', '.join(empty[:3])}, ..., {empty[-1]}"
    logger.warning(
        "%s %s..%s: %d date(s) have no transactions in %s, so nothing was %s for them: %s. "
        "Deliver their files and run `fraud-app etl`%s, then %s those dates again",
        step, start, end, len(empty), table, "scored" if step == "score" else "evaluated",
        shown, "" if step == "score" else " and `fraud-app features`", step,
    )  # fmt: skip


def warn_earlier_scores(start, end, kept: list[str]) -> None:
    """A re-run replaces a date's scores partition with its new scores; a date that has no
    transactions any more (a delivery replaced without it) writes nothing, so the earlier
    job's partition stays, scores of rows the canonical table no longer holds: named here,
    not deleted (an ETL that lost a day by mistake must not take its scores with it)."""
    if kept:
        logger.warning(
            "score %s..%s: %d date(s) without transactions keep an earlier job's scores "
            "partition: %s. Those rows are no longer in the canonical table; delete the "
            "partition(s) if their transactions were withdrawn, or deliver them again",
            start, end, len(kept), ", ".join(kept),
        )  # fmt: skip
