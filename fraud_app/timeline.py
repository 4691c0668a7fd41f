"""The data's timeline: dates without rows or with a collapsed volume, and the history the
window features of a date read.

A window feature counts the rows it finds. A date missing from the canonical table (a
delivery that never came), a partial one (an export cut after its first hours) or one
with a fraction of its usual rows makes every count, sum and rate of the following days
(up to the specs' longest lookback) smaller than what happened, without an error; so do
the data's first days, which have no history before them (the warm-up). This module
finds such dates ("thin" dates: fewer rows than `ratio` x the median of the neighbouring
dates that hold rows, none at all included) from the rows per date, and describes them
in one line; `validate`, `features`, `train`, `backtest` and `score` say what they mean
for them (validation.canonical.min_day_volume_ratio, 0: off; an `etl` append names the
dates it skips itself: fraud_app.etl.delivery_checks). Pure Python
but `day_counts` and `window_history` (one Spark aggregation each, pyspark imported
there: the validation suites, read with the config, import this module).
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fraud_app.schema import PARTITION_COLUMN

NEIGHBOURS = 7  # dates on either side whose median is a date's usual volume (a week's cycle)
RATIO_SETTING = "validation.canonical.min_day_volume_ratio"
SHOWN = 6  # thin dates named in a line; the reports list them all


@dataclass(frozen=True)
class ThinDay:
    date: dt.date
    rows: int
    usual: float  # median rows of the neighbouring dates that hold rows

    def describe(self) -> str:
        if not self.rows:
            return f"{self.date} (no rows)"
        rows = f"{self.rows} row" + ("s" if self.rows != 1 else "")
        return f"{self.date} ({rows}; usual ~{self.usual:.0f})"

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "rows": self.rows, "usual": round(self.usual, 1)}


def day_counts(df, *, column: str = PARTITION_COLUMN) -> dict[dt.date, int]:
    """Rows per date of the DataFrame `df` (its `column`, else the UTC date of `timestamp`):
    one Spark aggregation, one row per date collected."""
    from pyspark.sql import functions as F

    day = F.col(column) if column in df.columns else F.to_date("timestamp")
    rows = df.groupBy(day.alias("d")).count().collect()
    return {r["d"]: r["count"] for r in rows if r["d"] is not None}


def thin_days(
    counts: Mapping[dt.date, int],
    ratio: float,
    *,
    within: tuple[dt.date, dt.date] | None = None,
    neighbours: int = NEIGHBOURS,
) -> list[ThinDay]:
    """The dates between the first and the last date of `counts` (inside `within`, both
    inclusive, when given) with fewer rows than `ratio` x their usual volume: the median
    of the dates up to `neighbours` either side that hold rows (of every such date when
    none is near). Empty when ratio <= 0 (off) or counts is empty."""
    held = {d: n for d, n in counts.items() if n > 0}
    if ratio <= 0 or not held:
        return []
    first, last = min(held), max(held)
    low, high = (max(first, within[0]), min(last, within[1])) if within else (first, last)
    overall = statistics.median(held.values())
    step = dt.timedelta(days=1)
    out: list[ThinDay] = []
    day = low
    while day <= high:
        around = [
            held[d]
            for i in range(1, neighbours + 1)
            for d in (day - i * step, day + i * step)
            if d in held
        ]
        usual = statistics.median(around) if around else overall
        rows = held.get(day, 0)
        if rows < ratio * usual:
            out.append(ThinDay(day, rows, float(usual)))
        day += step
    return out


def _spans(n: int, joined) -> list[tuple[int, int]]:
    """(first, last) index of each run of items 0..n-1 where `joined(k, k + 1)` links
    neighbours."""
    spans, i = [], 0
    while i < n:
        j = i
        while j + 1 < n and joined(j, j + 1):
            j += 1
        spans.append((i, j))
        i = j + 1
    return spans


def describe_days(days: list[ThinDay], shown: int = SHOWN) -> str:
    """'2024-02-10..2024-02-11 (no rows), 2024-02-15 (7 rows; usual ~310)': consecutive
    dates without rows as one range; the first `shown` entries and the last when there
    are more."""
    one = dt.timedelta(days=1)
    entries = [
        days[i].describe() if j == i else f"{days[i].date}..{days[j].date} ({j - i + 1} dates, no rows)"
        for i, j in _spans(len(days), lambda a, b: not days[a].rows and not days[b].rows
                           and days[b].date - days[a].date == one)
    ]  # fmt: skip
    if len(entries) <= shown:
        return ", ".join(entries)
    return f"{', '.join(entries[: shown - 1])}, ... ({len(entries) - shown} more), {entries[-1]}"


def _lookback_days(lookback_s: int) -> dt.timedelta:
    return dt.timedelta(days=-(-lookback_s // 86_400))  # whole days, rounded up


def shifted(day: dt.date, delta: dt.timedelta) -> dt.date:
    """`day + delta`, held at the calendar's first or last day (`score --start 0001-01-01`
    overflowed Python's date)."""
    if delta < dt.timedelta(0):
        return day + delta if day - dt.date.min >= -delta else dt.date.min
    return day + delta if dt.date.max - day >= delta else dt.date.max


def history_start(day: dt.date, lookback_s: int) -> dt.date:
    """The first date the features of `day`'s rows may read (its midnight - lookback)."""
    return shifted(day, -_lookback_days(lookback_s))


def affected_until(day: dt.date, lookback_s: int) -> dt.date:
    """The last date whose window features may read rows of `day`."""
    return shifted(day, _lookback_days(lookback_s))


def table_timeline(
    counts: Mapping[dt.date, int], lookback_s: int | None, ratio: float
) -> dict[str, Any] | None:
    """What the feature table's window features saw of the data's timeline, for
    `_features.json` (`timeline`): its first and last date, the first date whose features
    see their whole lookback (before it: the warm-up), and each incomplete date with the
    last date whose features read it. None for a table without rows."""
    held = [d for d, n in counts.items() if n]
    if not held:
        return None
    first, last = min(held), max(held)
    thin = thin_days(counts, ratio)
    return {
        "first_date": first.isoformat(),
        "last_date": last.isoformat(),
        "lookback_days": None if lookback_s is None else round(lookback_s / 86_400, 3),
        "full_history_from": None
        if lookback_s is None
        else affected_until(first, lookback_s).isoformat(),
        "incomplete_dates": [
            {
                **t.to_dict(),
                "read_until": (
                    last if lookback_s is None else affected_until(t.date, lookback_s)
                ).isoformat(),
            }
            for t in thin
        ],
        "min_day_volume_ratio": ratio,
    }


def _recorded(timeline: Mapping[str, Any] | None) -> list[tuple[ThinDay, dt.date]]:
    """The incomplete dates of `table_timeline` (as written to _features.json), each with
    the last date whose features read it."""
    return [
        (ThinDay(dt.date.fromisoformat(t["date"]), t["rows"], t["usual"]),
         dt.date.fromisoformat(t["read_until"]))
        for t in (timeline or {}).get("incomplete_dates") or []
    ]  # fmt: skip


def timeline_line(timeline: Mapping[str, Any]) -> str | None:
    """The feature step's WARNING line for the incomplete dates of `table_timeline`."""
    thin = timeline["incomplete_dates"]
    if not thin:
        return None
    days = [day for day, _ in _recorded(timeline)]
    reach = (
        f"up to {timeline['lookback_days']:g} days after each (through {thin[-1]['read_until']})"
        if timeline["lookback_days"] is not None
        else "after each"
    )
    return (
        f"the canonical table holds {len(days)} incomplete date(s) between its first and last "
        f"(fewer rows than {RATIO_SETTING} {timeline['min_day_volume_ratio']:g} x the usual): "
        f"{describe_days(days)}. The window features (counts, sums, rates) of the rows {reach} "
        "count fewer transactions than happened, and `train` learns from them as they are: "
        "deliver the missing rows (`fraud-app etl`, etl.mode: append) and run `fraud-app "
        "features` again; `timeline` in the table's _features.json lists them"
    )


# a training window with at least this share of its rows read short history gets a WARNING
SHORT_HISTORY_SHARE = 0.1
MAX_COUNTED = 100  # incomplete dates counted one by one in a window (one column each)


def window_history(df, timeline: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """How many rows of a window (a split of the feature table) have window features that
    read less than their history (`table_timeline`): `warm_up` rows dated before
    `full_history_from`, `incomplete` rows (the others) dated from an incomplete date to
    the last date that reads it. One Spark aggregation; None without a timeline (a table
    written before it was recorded)."""
    from pyspark.sql import functions as F

    if not timeline:
        return None
    day = F.col(PARTITION_COLUMN) if PARTITION_COLUMN in df.columns else F.to_date("timestamp")
    full = timeline.get("full_history_from")
    warm = day < F.lit(full).cast("date") if full else F.lit(False)
    thin = timeline["incomplete_dates"][:MAX_COUNTED]
    reads = [
        ~warm & day.between(F.lit(t["date"]).cast("date"), F.lit(t["read_until"]).cast("date"))
        for t in thin
    ]
    under = F.lit(False)
    for r in reads:
        under = under | r
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.when(warm, 1).otherwise(0)).alias("warm"),
        F.sum(F.when(under, 1).otherwise(0)).alias("under"),
        *(F.sum(F.when(r, 1).otherwise(0)).alias(f"t{i}") for i, r in enumerate(reads)),
    ).first()
    return {
        "rows": row["rows"],
        "warm_up_rows": row["warm"] or 0,
        "incomplete_history_rows": row["under"] or 0,
        "full_history_from": full,
        "data_first_date": timeline["first_date"],
        "lookback_days": timeline["lookback_days"],
        # the incomplete dates this window's rows read (of the first MAX_COUNTED)
        "incomplete_dates": [t["date"] for i, t in enumerate(thin) if row[f"t{i}"]],
    }


def window_history_level(history: Mapping[str, Any]) -> int:
    """The log level of `window_history_line`: WARNING when at least SHORT_HISTORY_SHARE of
    the rows read incomplete dates (an outage: counts lower than what happened); INFO when
    it is the warm-up alone, which every data set has at its start (the demo's 60 days:
    86 % of its training rows) and which is a property of the data, not a fault."""
    rows = history.get("rows") or 0
    under = history.get("incomplete_history_rows") or 0
    return logging.WARNING if rows and under / rows >= SHORT_HISTORY_SHARE else logging.INFO


def window_history_line(name: str, history: Mapping[str, Any] | None) -> str | None:
    """One line when at least SHORT_HISTORY_SHARE of the window's rows read short history."""
    if not history or not history["rows"]:
        return None
    rows, warm, under = history["rows"], history["warm_up_rows"], history["incomplete_history_rows"]
    if (warm + under) / rows < SHORT_HISTORY_SHARE:
        return None
    parts = []
    if warm:
        parts.append(
            f"{warm} ({warm / rows:.0%}) are from the warm-up: dated before "
            f"{history['full_history_from']}, {history['lookback_days']:g} days (the specs' "
            f"longest lookback) after the data's first date {history['data_first_date']}, so "
            "their window features saw less history than those of later rows"
        )
    if under:
        shown = date_ranges(history["incomplete_dates"])
        parts.append(
            f"{under} ({under / rows:.0%}) read incomplete dates ({shown}), so their window "
            "features count fewer transactions than happened"
        )
    return (
        f"of the {name} window's {rows} rows, {'; '.join(parts)}. The model learns those "
        "lower counts and rates as they are and meets complete history when it scores (rows "
        "beyond its training range). Deliver more history (or the missing rows) and run "
        "`fraud-app features` again, or start the window later (splits.train_days, or "
        "splits.by: dates)"
    )


def dates_within(
    timeline: Mapping[str, Any] | None, start: dt.datetime, end: dt.datetime
) -> list[ThinDay]:
    """The incomplete dates of `table_timeline` inside the window [start, end)."""
    low, high = start.date(), (end - dt.timedelta(microseconds=1)).date()
    return [day for day, _ in _recorded(timeline) if low <= day.date <= high]


_ROLE = {
    "validation": "its figures (early stopping, the promotion gate)",
    "test": "the test figures",
}


def window_dates_line(name: str, start: dt.datetime, end: dt.datetime, thin: list[ThinDay]) -> str:
    """One line for a validation or test window that holds incomplete dates."""
    return (
        f"the {name} window ({start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}) holds {len(thin)} "
        f"incomplete date(s): {describe_days(thin)}; {_ROLE.get(name, 'its figures')} rest on "
        "fewer transactions than the window spans, and on features that undercount after them"
    )


def date_ranges(dates: list[str], shown: int = SHOWN) -> str:
    """ISO dates as '2024-01-10..2024-02-09 (31 dates), 2024-02-15': consecutive ones as a
    range; the first `shown` entries and a count of the others."""
    days = [dt.date.fromisoformat(d) for d in dates]
    one = dt.timedelta(days=1)
    entries = [
        str(days[i]) if i == j else f"{days[i]}..{days[j]} ({j - i + 1} dates)"
        for i, j in _spans(len(days), lambda a, b: days[b] - days[a] == one)
    ]
    more = f" and {len(entries) - shown} more" if len(entries) > shown else ""
    return ", ".join(entries[:shown]) + more


def read_by(timeline: Mapping[str, Any] | None, start: dt.date, end: dt.date) -> list[ThinDay]:
    """The incomplete dates of `table_timeline` that the window features of the dates
    start..end (inclusive) read: dated up to `end`, read until `start` or later."""
    return [day for day, until in _recorded(timeline) if day.date <= end and until >= start]
