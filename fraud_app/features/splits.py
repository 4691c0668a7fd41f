"""Time-based train / validation / test splits with a gap before validation and before test.

A random split would let the model train on transactions after the ones it is
evaluated on, and on labels that were not yet known then. Here every window is a
half-open UTC interval [start, end); validation starts at least the validation gap
after train ends and test at least the test gap after validation ends. The test gap
defaults to the label delay, so every train and validation label is known (under the
label-delay rule) when the model is trained, at the start of test; the validation gap
defaults to 0, so by default train + validation hold every row whose label is known
then (see SplitsSection.gaps). Rows in a gap (or before train) belong to no split.

`plan_windows` is pure (dates in, dates out, ConfigError on bad windows);
`split_by_time` applies it to a DataFrame and returns the three DataFrames plus a
summary computed in ONE aggregation (no data collected to the driver).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.errors import ConfigError, EmptyInputError, SchemaError
from fraud_app.features.config import SPLIT_NAMES, SplitsSection, utc_midnight, window_order_problem
from fraud_app.features.labels import utc_micros_datetime
from fraud_app.spark.session import ensure_utc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeWindow:
    name: str
    start: dt.datetime | None  # None: unbounded (train with train_days = None)
    end: dt.datetime

    def contains(self, ts: Column) -> Column:
        cond = ts < F.lit(self.end)
        return cond if self.start is None else cond & (ts >= F.lit(self.start))


@dataclass(frozen=True)
class SplitResult:
    train: DataFrame
    validation: DataFrame
    test: DataFrame
    windows: tuple[TimeWindow, TimeWindow, TimeWindow]
    summary: dict[str, Any]


def plan_windows(
    cfg: SplitsSection,
    *,
    gap_days: float | tuple[float, float],
    data_end: dt.date | None = None,
) -> tuple[TimeWindow, TimeWindow, TimeWindow]:
    """The three windows; `data_end` (exclusive) anchors by: lengths when cfg.end is None.

    gap_days: (before validation, before test) in days, or one number for both."""
    gaps_days = gap_days if isinstance(gap_days, tuple) else (gap_days, gap_days)
    val_gap, test_gap = (dt.timedelta(days=g) for g in gaps_days)
    if cfg.by == "dates":
        given = (cfg.train, cfg.validation, cfg.test)  # all set: SplitsSection checks it
        windows = tuple(
            TimeWindow(name, utc_midnight(w.start), utc_midnight(w.end))
            for name, w in zip(SPLIT_NAMES, given, strict=True)
            if w is not None
        )
    else:
        end_day = cfg.end or data_end
        if end_day is None:
            raise ConfigError("splits.end is needed when the data's last date is unknown")
        test_end = utc_midnight(end_day)
        test_start = test_end - dt.timedelta(days=cfg.test_days)
        val_end = test_start - test_gap
        val_start = val_end - dt.timedelta(days=cfg.validation_days)
        train_end = val_start - val_gap
        train_start = (
            None if cfg.train_days is None else train_end - dt.timedelta(days=cfg.train_days)
        )
        windows = (
            TimeWindow("train", train_start, train_end),
            TimeWindow("validation", val_start, val_end),
            TimeWindow("test", test_start, test_end),
        )
    _check_order(windows, gaps_days)
    return windows  # type: ignore[return-value]


def _check_order(windows: tuple[TimeWindow, ...], gaps_days: tuple[float, float]) -> None:
    problem = window_order_problem([(w.name, w.start, w.end) for w in windows], gaps_days)
    if problem:
        raise ConfigError(problem)


def split_by_time(
    df: DataFrame,
    cfg: SplitsSection,
    *,
    label_delay_days: float,
    timestamp_column: str = "timestamp",
    label_column: str = "label",
    content: bool = False,
) -> SplitResult:
    """Train / validation / test DataFrames of `df`'s labelled rows (label not null) and a
    summary of each window; `content`: each window's summary also holds `content`, a
    checksum of its rows' values (`_split_counts`), computed in the same aggregation."""
    for col in (timestamp_column, label_column):
        if col not in df.columns:
            raise SchemaError(f"split_by_time needs column {col!r}. Received columns: {df.columns}")
    ensure_utc(df.sparkSession)  # the data's last UTC date anchors the windows
    gaps = cfg.gaps(label_delay_days)
    # a row whose label is not known yet (null) is in no window: never trained, validated
    # or tested on as a normal (read_features leaves them out before; a notebook may not);
    # the summary counts them per window (`unlabelled`), and a validation or test window
    # that held some gets a WARNING (its figures rest on the labelled rows only)
    labelled = F.col(label_column).isNotNull()
    data_end = None
    if cfg.by == "lengths" and cfg.end is None:
        # the last LABELLED row's date: a test window of unlabelled days would be empty
        last_day = df.where(labelled).agg(F.max(F.to_date(timestamp_column))).first()[0]
        if last_day is None:
            raise EmptyInputError("split_by_time: the input holds no rows")
        data_end = last_day + dt.timedelta(days=1)
    windows = plan_windows(cfg, gap_days=gaps, data_end=data_end)
    ts = F.col(timestamp_column)
    parts = [df.where(labelled & w.contains(ts)) for w in windows]
    summary = _summary(df, windows, ts, F.col(label_column), gaps, content)
    _warn_unlabelled(summary)
    empty = [w.name for w in windows if summary["windows"][w.name]["rows"] == 0]
    if empty:
        spans = "; ".join(
            f"{name} {w['start'] or 'the first row'} .. {w['end']}: {w['rows']} rows"
            for name, w in summary["windows"].items()
        )  # one readable line, not the summary dict (a screenful of nested keys)
        raise EmptyInputError(
            f"split window(s) {empty} hold no rows ({spans}; gaps before validation "
            f"{gaps[0]:g} d and before test {gaps[1]:g} d). The data covers "
            f"{summary['data_first']} .. {summary['data_last']}; adjust splits.* to fall inside it"
            f"{_too_short(cfg, gaps, summary)}"
        )
    logger.info("time splits: %s", summary["windows"])
    return SplitResult(parts[0], parts[1], parts[2], windows, summary)


def require_training_frauds(summary: dict[str, Any]) -> None:
    """EmptyInputError when the training window holds rows but no fraud, naming where the
    frauds are and the settings that move the windows: the balancing step's own words
    ("the data holds no fraud") named neither the window nor what to change."""
    train = summary["windows"]["train"]
    if not train["rows"]:
        return
    if 0 < train["frauds"] < FEW_TRAINING_FRAUDS:
        _warn_few_training_frauds(summary)
    if train["frauds"]:
        return
    where = ", ".join(f"{n} {summary['windows'][n]['frauds']}" for n in ("validation", "test"))
    first = summary.get("first_fraud")
    seen = f"the data's first fraud is at {first}" if first else "the data holds no fraud at all"
    raise EmptyInputError(
        f"the training window ({train['start'] or 'the first row'} .. {train['end']}, "
        f"{train['rows']} rows) holds no fraud (label = 1), so no model can learn one: frauds "
        f"per window: train 0, {where}, {summary.get('unused_frauds', 0)} in the gaps; {seen}. "
        "Move the windows so that training holds frauds (splits.test_days, "
        "splits.validation_days, splits.test_gap_days, splits.end; or splits.by: dates), or "
        "check the labels (etl.columns.label, etl.label_values)"
    )


# fewer frauds than this in the training window: one WARNING (a 0.05 % export of 30k rows
# trained on 4 frauds, and its model, worse than random, became the champion without a word)
FEW_TRAINING_FRAUDS = 20


def _warn_few_training_frauds(summary: dict[str, Any]) -> None:
    w = summary["windows"]
    train = w["train"]
    logger.warning(
        "the training window (%s .. %s, %d rows) holds only %d fraud(s) (validation %d, test "
        "%d, %d in the gaps): a model learns little from so few, and the validation and test "
        "figures rest on a handful of rows, so a registered model may be no better than "
        "chance; deliver more labelled history, or move the windows (splits.test_days, "
        "splits.validation_days, splits.test_gap_days) so that training holds more frauds",
        train["start"] or "the first row", train["end"], train["rows"], train["frauds"],
        w["validation"]["frauds"], w["test"]["frauds"], summary.get("unused_frauds", 0),
    )  # fmt: skip


def _too_short(cfg: SplitsSection, gaps: tuple[float, float], summary: dict[str, Any]) -> str:
    """With `by: lengths`, what the windows need beside how many days the data holds: a
    delivery of a few days failed with the windows' dates alone."""
    if cfg.by != "lengths" or summary["data_first"] is None:
        return ""
    first, last = (dt.datetime.fromisoformat(summary[k]) for k in ("data_first", "data_last"))
    held = (last - first).total_seconds() / 86400
    need = cfg.test_days + gaps[1] + cfg.validation_days + gaps[0]
    return (
        f". The windows take the last {need:g} days (test_days {cfg.test_days:g} + "
        f"test_gap_days {gaps[1]:g} + validation_days {cfg.validation_days:g} + "
        f"validation_gap_days {gaps[0]:g}) and training needs days before them; the data spans "
        f"{held:.1f} days: shorten those windows (the test gap defaults to "
        "features.label_delay_days) or deliver more days"
    )


def _summary(
    df: DataFrame,
    windows: tuple[TimeWindow, ...],
    ts: Column,
    label: Column,
    gaps: tuple[float, float],
    content: bool = False,
) -> dict[str, Any]:
    rows = _split_counts(df, windows, ts, label, content)
    by_name = {r["split"]: r for r in rows}
    unused = by_name.get("unused")
    return {
        "gap_days": gaps[1],  # the gap before test (the label delay by default)
        "validation_gap_days": gaps[0],
        "test_gap_days": gaps[1],
        "windows": {w.name: _window_summary(w, by_name.get(w.name)) for w in windows},
        "unused_rows": unused["rows"] if unused else 0,
        "unused_frauds": unused["frauds"] if unused else 0,
        **_data_times(rows),
    }


def _split_counts(df: DataFrame, windows: tuple[TimeWindow, ...], ts: Column,
                  label: Column, content: bool = False) -> list:  # fmt: skip
    """One collected row per split a row of `df` falls in (the windows, else "unused"):
    rows, frauds, first and last time, first fraud's time (microseconds), of its LABELLED
    rows; `unlabelled` and `first_unlabelled`: its rows whose label is null (in no split);
    `content`: the labelled rows' sum of every row's xxhash64 over its columns (by name;
    maps aside), as an exact decimal: the
    same for the same rows in any order, file or partitioning, another when a value
    changed (a feature recomputed under another spec of the same name)."""
    which = F.lit("unused")
    for w in reversed(windows):
        which = F.when(w.contains(ts), F.lit(w.name)).otherwise(which)
    extra, sums = [], []
    if content:  # Spark hashes no map (a map column, or one inside a struct, is left out)
        hashable = [F.col(c) for c in sorted(df.columns)
                    if "map<" not in df.schema[c].dataType.simpleString()]  # fmt: skip
        extra = [F.xxhash64(*hashable).cast("decimal(20,0)").alias("row_hash")]
        sums = [F.sum("row_hash").alias("content")]
    known = F.col("label").isNotNull()
    if content:  # the labelled rows' checksum only: the rows a window hands on
        sums = [F.sum(F.when(known, F.col("row_hash"))).alias("content")]
    micros = F.when(known, F.unix_micros("ts"))  # the figures below: labelled rows only
    return (
        df.select(which.alias("split"), ts.alias("ts"), label.alias("label"), *extra)
        .groupBy("split")
        .agg(
            F.count(F.when(known, 1)).alias("rows"),
            F.sum(F.when(F.col("label") == 1, 1).otherwise(0)).alias("frauds"),
            # rows whose label is not known yet: in no split, counted per window
            F.count(F.when(~known, 1)).alias("unlabelled"),
            F.min(F.when(~known, F.unix_micros("ts"))).alias("first_unlabelled"),
            # microseconds, not timestamps: PySpark hands a collected timestamp over in the
            # Python process's local zone (a laptop's), not in UTC
            F.min(micros).alias("first"),
            F.max(micros).alias("last"),
            F.min(F.when(F.col("label") == 1, F.unix_micros("ts"))).alias("first_fraud"),
            *sums,
        )
        .collect()  # at most four rows
    )


def _window_summary(w: TimeWindow, r) -> dict[str, Any]:
    """A window's bounds and what `_split_counts` found in it (`r`: None, no rows)."""
    n = r["rows"] if r else 0
    return {
        "start": w.start.isoformat() if w.start else None,
        "end": w.end.isoformat(),
        "rows": n,
        "frauds": r["frauds"] if r else 0,
        "fraud_rate": round(r["frauds"] / n, 6) if n else None,
        "unlabelled": r["unlabelled"] if r else 0,
        "first": utc_text(r["first"]) if r else None,
        "last": utc_text(r["last"]) if r else None,
        **({"content": str(r["content"])} if n and "content" in r.asDict() else {}),
        **({"first_unlabelled": utc_text(r["first_unlabelled"])} if r and r["unlabelled"] else {}),
    }


def _warn_unlabelled(summary: dict[str, Any]) -> None:
    """One WARNING per validation or test window that held rows whose label is not known
    yet: they are left out, so its figures (early stopping, the promotion gate, the test
    figures) rest on the labelled rows only, which are not a sample of the window when
    labels arrive by class (a chargeback feed confirms frauds, normals settle later): a
    test window of 21 labelled frauds among 1,400 unlabelled rows evaluated on the frauds
    alone (fraud rate 1.0, AP 1.0) without a word (probe54c). The windows count back from
    the last LABELLED row, so unlabelled days at the data's end fall after test, in no
    window, and are not named here."""
    for name in ("validation", "test"):
        w = summary["windows"].get(name)
        if not w or not w["unlabelled"]:
            continue
        total = w["rows"] + w["unlabelled"]
        logger.warning(
            "the %s window (%s .. %s) holds %d row(s) whose label is not known yet (label "
            "null; %.1f %% of its %d rows, the first at %s): they are left out, so its "
            "figures rest on its %d labelled row(s) (%d fraud(s), fraud rate %s), which "
            "are not a sample of the window where labels arrive by class (frauds confirmed "
            "before normals settle). Deliver the labels first, or end the windows before "
            "the unlabelled rows (splits.end, or splits.by: dates)",
            name, w["start"], w["end"], w["unlabelled"], 100.0 * w["unlabelled"] / total,
            total, w["first_unlabelled"], w["rows"], w["frauds"], w["fraud_rate"],
        )  # fmt: skip


def _data_times(rows: list) -> dict[str, str | None]:
    """The first fraud's time and the data's first and last time, over every split."""
    frauds = [r["first_fraud"] for r in rows if r["first_fraud"] is not None]
    firsts = [r["first"] for r in rows if r["first"] is not None]
    lasts = [r["last"] for r in rows if r["last"] is not None]
    return {
        "first_fraud": utc_text(min(frauds)) if frauds else None,
        "data_first": utc_text(min(firsts)) if firsts else None,
        "data_last": utc_text(max(lasts)) if lasts else None,
    }


def utc_text(us: int | None) -> str | None:
    """A timestamp's microseconds as UTC wall-clock text, `2024-01-20 22:00:00` (as str()
    of a collected timestamp reads in a UTC process)."""
    return None if us is None else str(utc_micros_datetime(us).replace(tzinfo=None))
