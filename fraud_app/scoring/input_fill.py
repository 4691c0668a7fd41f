"""Optional input columns that stop holding values on the scored dates (schema drift upstream).

An export that drops a column after months (or keeps its header and leaves it empty, or
renames it so that the `etl.columns` mapping no longer finds it) reaches the canonical
table as nulls: the ETL publishes an absent optional column as null, and nothing later
refuses it. The features that read it then take their fill value on the new dates (a
frequency of 0, the prior fraud rate, ...), values the model never learnt from, and the
scores move with no word. `score` asks here, in one Spark job over the scored dates and
the HISTORY_DAYS before them, what share of the rows of each date hold a value in each
optional column the model's features read (from the Parquet footers' null counts; one
Spark job when a footer lacks them), and names the columns whose share fell to
less than half of what it was before (`emptied_inputs`; one WARNING, `warn_emptied`).

Owns the count and the judgement; not the scoring. Columns that are null by design on new
rows (label, label_time) and the required columns (never null) are not judged.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.etl.column_drift import lost_values, pct
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache, footer_metadata, footers_bytes, partition_rows
from fraud_app.features.spec import FeatureSet
from fraud_app.schema import LABEL_COLUMNS, OPTIONAL_COLUMNS, PARTITION_COLUMN, partition_value
from fraud_app.scoring.dates import date_literal
from fraud_app.timeline import shifted
from fraud_app.uris import local_path

logger = logging.getLogger(__name__)

HISTORY_DAYS = 28  # the dates before the scored ones whose share of values is the usual one
SHOWN = 6  # features named per column in the WARNING


@dataclass(frozen=True)
class EmptiedInput:
    """An optional input column with fewer values on some scored dates than before."""

    column: str
    share_before: float  # share of the history's rows holding a value
    dates: dict[str, float]  # scored date -> its share of rows holding a value
    features: tuple[str, ...]  # the model's features that read it

    def to_dict(self) -> dict[str, Any]:
        return {
            "share_before": round(self.share_before, 4),
            "dates": {d: round(s, 4) for d, s in self.dates.items()},
            "features": list(self.features),
        }


def judged_columns(feature_set: FeatureSet, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Optional input column -> the features of `names` (the model's) that read it."""
    wanted = set(names)
    out: dict[str, list[str]] = {}
    for feature in feature_set.features:
        if feature.name not in wanted:
            continue
        for column in feature.inputs:
            if column in OPTIONAL_COLUMNS and column not in LABEL_COLUMNS:
                out.setdefault(column, []).append(feature.name)
    return {c: tuple(f) for c, f in out.items()}


def value_counts(
    canonical: DataFrame, columns: Sequence[str], start: dt.date, end: dt.date
) -> dict[dt.date, tuple[int, dict[str, int]]]:
    """Per date of [start - HISTORY_DAYS, end]: (rows, {column: rows holding a value}).
    One Spark aggregation (none without columns); the partition filter prunes the other
    dates' files."""
    if not columns:
        return {}
    day = F.col(PARTITION_COLUMN)
    first = shifted(start, -dt.timedelta(days=HISTORY_DAYS))
    # a column the table lacks (not written by this release) holds no value
    held = [F.count(F.col(c) if c in canonical.columns else F.lit(None)).alias(f"n{i}")
            for i, c in enumerate(columns)]  # fmt: skip
    rows = (
        canonical.where(day.between(date_literal(first), date_literal(end)))
        .groupBy(day.alias("d"))
        .agg(F.count(F.lit(1)).alias("_rows"), *held)
        .collect()
    )
    return {r["d"]: (r["_rows"], {c: r[f"n{i}"] for i, c in enumerate(columns)}) for r in rows}


def footer_counts(
    fs: HadoopFs, table: str, columns: Sequence[str], start: dt.date, end: dt.date,
    cache: FooterCache | None = None,
) -> dict[dt.date, tuple[int, dict[str, int]]] | None:  # fmt: skip
    """`value_counts` from the Parquet footers of the dates' files (each row group's row
    count and each column chunk's null count), without a Spark job: a daily `score` read
    29 dates of the canonical table for it, ~1-1.5 s per 1M rows (review33). None when a
    file has no footer or a judged column's chunk no null count (then ask Spark).
    `cache`: the run's footers (the `_files.json` check read them already)."""
    if not columns:
        return {}
    first = shifted(start, -dt.timedelta(days=HISTORY_DAYS))
    files, read = _dated_footers(fs, table, first, end, cache)
    out: dict[dt.date, tuple[int, dict[str, int]]] = {}
    for (day, _, _), footer in zip(files, read, strict=True):
        counted = _file_counts(footer, columns)
        if counted is None:
            return None
        rows, held = out.get(day, (0, dict.fromkeys(columns, 0)))
        out[day] = (rows + counted[0], {c: held[c] + counted[1][c] for c in columns})
    out = {d: v for d, v in out.items() if v[0]}  # as the aggregation: no rows, no entry
    # the caller found rows on the scored dates: none here means another layout
    return out if any(d >= start for d in out) else None


def _dated_footers(
    fs: HadoopFs, table: str, first: dt.date, last: dt.date, cache: FooterCache | None
) -> tuple[list[tuple[dt.date, str, int]], list[bytes | None]]:
    """((date, full path, bytes) of each data file of the date partitions first..last of
    `table`, each one's footer as footers_bytes reads it); the folders listed in one bulk
    glob (HadoopFs.folder_sizes), not a listing each."""
    root = fs.qualify(table).rstrip("/")
    folders = _date_folders(fs, root, first, last)
    held = fs.folder_sizes(root, list(folders.values()))  # one glob, not a listing per date
    files: list[tuple[dt.date, str, int]] = []
    for day, name in folders.items():  # a folder gone since the listing holds no rows
        files += [(day, path, size) for path, size in held[name] or []]
    read = footers_bytes(fs, [(p, s) for _, p, s in files], local_path(root) is not None, cache)
    return files, read


def _date_folders(fs: HadoopFs, root: str, first: dt.date, last: dt.date) -> dict[dt.date, str]:
    """{date: its partition folder's name} of `root`'s dates first..last, in date order
    (one listing)."""
    dates = {}
    for name, is_dir in fs.list_dir(root):
        value = partition_value(name) if is_dir else None
        if value is not None and (day := _iso_date(value)) is not None and first <= day <= last:
            dates[day] = name
    return dict(sorted(dates.items()))


def _iso_date(value: str) -> dt.date | None:
    """The date a partition folder's value names in ISO form (as the writers name them)."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return day if day.isoformat() == value else None


def footer_day_rows(
    fs: HadoopFs, table: str, first: dt.date, last: dt.date, cache: FooterCache | None = None
) -> dict[dt.date, int] | None:
    """Rows per date first..last (inclusive) of the date-partitioned `table`, from the
    Parquet footers of those dates' files (no Spark job; fraud_app.timeline.day_counts of
    the dates' rows was two): a date without rows has no entry, as in the aggregation.
    None when a file's footer does not parse (then ask Spark). `cache`: the run's footers."""
    root = fs.qualify(table).rstrip("/")
    folders = _date_folders(fs, root, first, last)
    counted = partition_rows(fs, root, list(folders.values()), cache)
    if None in counted.values():
        return None
    return {day: n for day, name in folders.items() if (n := counted.get(name))}


def _file_counts(footer: bytes | None, columns: Sequence[str]) -> tuple[int, dict[str, int]] | None:
    """(rows, {column: rows holding a value}) of one file's footer; None when there is no
    footer or a judged column's chunk has no null count."""
    meta = footer_metadata(footer)
    if meta is None:
        return None
    rows, held = 0, dict.fromkeys(columns, 0)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        rows += group.num_rows
        for j in range(group.num_columns):
            chunk = group.column(j)
            if chunk.path_in_schema not in held:
                continue  # a column the file lacks holds no value, as in Spark's read
            stats = chunk.statistics
            if stats is None or not stats.has_null_count:
                return None
            held[chunk.path_in_schema] += group.num_rows - stats.null_count
    return rows, held


def fill_counts(
    spark, table: str, canonical: DataFrame, columns: Sequence[str], start: dt.date, end: dt.date,
    cache: FooterCache | None = None,
) -> dict[dt.date, tuple[int, dict[str, int]]]:  # fmt: skip
    """The footers' counts (`footer_counts`, through the run's `cache`), else one Spark job
    (`value_counts`)."""
    counted = footer_counts(HadoopFs(spark), table, columns, start, end, cache)
    if counted is not None:
        return counted
    logger.debug("input fill: footers without null counts under %s: counted by Spark", table)
    return value_counts(canonical, columns, start, end)


def emptied_inputs(
    counts: dict[dt.date, tuple[int, dict[str, int]]],
    columns: dict[str, tuple[str, ...]],
    start: dt.date,
) -> list[EmptiedInput]:
    """The columns whose share of rows holding a value on a scored date (>= start) is below
    half of their share over the dates before `start` (`column_drift.lost_values`: a date is
    judged only when it should hold MIN_EXPECTED_VALUES values at the usual share)."""
    before = [v for d, v in counts.items() if d < start]
    rows_before = sum(n for n, _ in before)
    out = []
    for column, features in columns.items():
        if not rows_before:
            break
        usual = sum(held[column] for _, held in before) / rows_before
        fallen = {
            d.isoformat(): held[column] / n
            for d, (n, held) in sorted(counts.items())
            if d >= start and lost_values(n, held[column], usual)
        }
        if fallen:
            out.append(EmptiedInput(column, usual, fallen, features))
    return out


def warn_emptied(
    step: str, start: dt.date, end: dt.date, emptied: list[EmptiedInput],
    source_for: Callable[[str], str],
) -> None:  # fmt: skip
    """One WARNING naming each emptied column, its dates, its share then and now, the
    export column etl.columns maps it from and the model's features that read it."""
    if not emptied:
        return
    parts = []
    for e in emptied:
        dates = list(e.dates)
        when = dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
        now = max(e.dates.values())
        shown = ", ".join(e.features[:SHOWN]) + (
            f" and {len(e.features) - SHOWN} more" if len(e.features) > SHOWN else ""
        )
        parts.append(
            f"{e.column} (export column {source_for(e.column)!r}) holds a value in "
            f"{pct(now) if len(dates) == 1 or not now else 'at most ' + pct(now)} of the rows of "
            f"{len(dates)} date(s) ({when}), against {pct(e.share_before)} in the "
            f"{HISTORY_DAYS} days before; features reading it: {shown}"
        )
    logger.warning(
        "%s %s..%s: input column(s) the model's features read lost their values: %s. Those "
        "features take their fill value on these rows, not what the model learnt from, so "
        "the scores of these dates are not comparable with earlier ones. Was the column "
        "dropped, emptied or renamed in the export? Fix the mapping (etl.columns) or the "
        "delivery, rebuild the canonical table with it (`fraud-app etl`, etl.mode: replace "
        "over every delivery: an append of the same transactions again is a duplicate) and "
        "%s these dates again; `emptied_inputs` in the summary lists them",
        step, start, end, "; ".join(parts), step,
    )  # fmt: skip
