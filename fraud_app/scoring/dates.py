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
