"""The day axis of the per-day charts: every calendar day of the span, in date order.

plotly.js orders a category axis by first appearance across the traces: a chart of two
evaluations (train's `evaluation-<run>-test.json`, then `-validation.json`, in file-name
order) read 02-25 .. 02-29, 02-13 .. 02-17, time running backwards, and a day without a
point (a scoring job that did not run, a date without rows) left no slot at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

MAX_SPAN_DAYS = 3_660  # a longer span (a stray old report) keeps only the days that have points


def _day(text: str) -> dt.date | None:
    """The date `text` writes as `YYYY-MM-DD`, else None. fromisoformat also takes
    `20240301` and `2024-W10-1`: the day listed was then `2024-03-01` / `2024-03-04`, a
    text no point has, and the scoring chart's bar of that date was left out unsaid."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return day if day.isoformat() == text else None


def calendar_days(dates: Iterable[object]) -> list[str]:
    """Every day from the earliest to the latest of `dates` (ISO `YYYY-MM-DD`), ascending;
    the days between without a point are slots of their own. Where a date is not ISO text
    or the span is over MAX_SPAN_DAYS: the distinct dates, sorted."""
    texts = sorted({str(d) for d in dates})
    days = [_day(t) for t in texts]
    if not days or any(d is None for d in days):
        return texts
    first, last = days[0], days[-1]
    span = (last - first).days + 1
    if span > MAX_SPAN_DAYS:
        return texts
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(span)]


def missing_days(dates: Iterable[object], shown: Iterable[object]) -> list[str]:
    """The days of `calendar_days(shown)` that are not among `dates`."""
    have = {str(d) for d in dates}
    return [d for d in calendar_days(shown) if d not in have]
