"""Transactions that reached the canonical table after their date was scored.

A payment feed delivers some of a day's transactions late: a switch outage or a batch
acquirer puts rows of day D into the delivery of D+1 or D+3. `etl --mode append` adds them
to D's partition (the ETL report's `backfilled_dates`), but the daily `score --date` of the
later day scores only that day: the late rows of D, whose date was scored before they
arrived, were never scored, and no later job said so.

Every `score` run therefore compares, for each date that has a scores partition (other
than the dates it scores now), the rows of the canonical table's partition with the rows
of the scores partition, both from the Parquet footers (no Spark job; the canonical
table's footers are the ones the run's `_files.json` check read). A date whose canonical
partition holds more rows than its scores is named (`unscored_dates` in the summary and
the printed JSON, one WARNING): score it again (`fraud-app score --date D`), which replaces
its partition. Counts, not ids: rows that replaced others one for one (an `etl.mode:
replace` rebuild with other transactions) are not seen; fewer rows than scored (a
delivery replaced without some) is the `earlier_partitions_kept` case, not this one.

Owns the comparison and its WARNING; not the scoring (fraud_app.scoring.job).
"""

from __future__ import annotations

import logging
from typing import Any

from py4j.protocol import Py4JJavaError

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache, partition_rows
from fraud_app.etl.partition_swap import partition_name

logger = logging.getLogger(__name__)

SHOWN = 6  # dates named in the WARNING (the summary lists them all)


def _partition_rows(
    fs: HadoopFs, table: str, days: list[str], folders: set[str], cache: FooterCache
) -> dict[str, int | None]:
    """{date: rows of `table`'s partition of that date (0 when it has none)}; None for a
    date with a file whose footer cannot be read, or whose folder or files went away since
    the table was listed (not judged). The check runs after the job released the output's
    lock, so another job's swap (final -> old -> final), its cleanup, or a person removing
    a date can take a partition away in between: that failed the job, after its scores
    were swapped in, with a Py4J FileNotFoundException and no summary (session 36 review)."""
    out: dict[str, int | None] = dict.fromkeys(days, 0)
    present = [day for day in days if partition_name(day) in folders]
    try:
        counted = partition_rows(fs, table, [partition_name(day) for day in present], cache)
    except (OSError, Py4JJavaError):  # a file gone since it was listed: nothing judged
        return dict.fromkeys(days)
    for day in present:  # no entry: the folder went away since the table was listed
        out[day] = counted.get(partition_name(day))
    return out


def unscored_dates(
    fs: HadoopFs, canonical: str, scores: str, scored_now: set[str], cache: FooterCache
) -> dict[str, dict[str, int]]:
    """{date: {"canonical_rows", "scored_rows", "unscored_rows"}} of the dates with a scores
    partition (not in `scored_now`) whose canonical partition holds more rows than it."""
    score_folders = {name for name, is_dir in fs.list_dir(scores) if is_dir}
    days = sorted(
        name.partition("=")[2]
        for name in score_folders
        if name.startswith(partition_name("")) and name.partition("=")[2] not in scored_now
    )
    if not days:
        return {}
    canonical_folders = {name for name, is_dir in fs.list_dir(canonical) if is_dir}
    have = _partition_rows(fs, canonical, days, canonical_folders, cache)
    scored = _partition_rows(fs, scores, days, score_folders, cache)
    out = {}
    for day in days:
        rows, done = have[day], scored[day]
        if rows is not None and done is not None and rows > done:
            out[day] = {"canonical_rows": rows, "scored_rows": done, "unscored_rows": rows - done}
    return out


def warn_unscored(start, end, unscored: dict[str, Any], canonical: str) -> None:
    """One WARNING naming the dates scored earlier that now hold transactions without a score."""
    if not unscored:
        return
    total = sum(v["unscored_rows"] for v in unscored.values())
    shown = ", ".join(
        f"{day} ({v['unscored_rows']} of {v['canonical_rows']} rows)"
        for day, v in list(unscored.items())[:SHOWN]
    )
    more = f" and {len(unscored) - SHOWN} more" if len(unscored) > SHOWN else ""
    days = list(unscored)
    again = f"--date {days[0]}" if len(days) == 1 else f"--start {days[0]} --end {days[-1]}"
    logger.warning(
        "score %s..%s: %d transaction(s) of %d date(s) scored by an earlier job arrived in "
        "%s after that job and have no score: %s%s (late rows of a delivery, the ETL "
        "report's backfilled_dates). Score those dates again (`fraud-app score %s`, or each "
        "date of unscored_dates in the summary): the re-run replaces each date's partition "
        "and scores its earlier rows again with the features they have now",
        start, end, total, len(unscored), canonical, shown, more, again,
    )  # fmt: skip
