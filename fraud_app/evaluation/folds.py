"""Rolling backtest folds: the same train / validation / gap / test layout moved back in steps.

Pure date arithmetic (no Spark). Every window is a half-open UTC interval [start, end).
A fold's CUT-OFF is the start of its test window: the moment its model is trained.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from dataclasses import dataclass

from fraud_app.errors import ConfigError
from fraud_app.evaluation.config import BacktestSection
from fraud_app.timeline import dates_within, describe_days

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    index: int
    train: tuple[dt.datetime | None, dt.datetime]  # start None: from the first row
    validation: tuple[dt.datetime, dt.datetime]
    test: tuple[dt.datetime, dt.datetime]

    @property
    def cutoff(self) -> dt.datetime:
        return self.test[0]

    def to_dict(self) -> dict[str, str | None]:
        def iso(t):
            return None if t is None else t.isoformat()

        return {
            "train_start": iso(self.train[0]),
            "train_end": iso(self.train[1]),
            "validation_start": iso(self.validation[0]),
            "validation_end": iso(self.validation[1]),
            "test_start": iso(self.test[0]),
            "test_end": iso(self.test[1]),
            "cutoff": iso(self.cutoff),
        }


def plan_folds(cfg: BacktestSection, *, label_delay_days: float, data_end: dt.date) -> list[Fold]:
    """K folds, oldest first. `data_end` (exclusive day) is used when cfg.end is None."""
    end_day = cfg.end or data_end
    newest_end = dt.datetime(end_day.year, end_day.month, end_day.day, tzinfo=dt.UTC)
    test_gap = label_delay_days if cfg.test_gap_days is None else cfg.test_gap_days
    days = dt.timedelta(days=1)
    # one step, rounded to the microsecond once: k x (step_days x day) keeps folds exactly
    # step apart ((k x step_days) x day rounded each fold on its own, and a fractional
    # step_days = test_days such as 1/7 left test windows overlapping by 1 microsecond)
    step = cfg.step_days * days
    folds = []
    for k in range(cfg.folds):
        test_end = newest_end - (cfg.folds - 1 - k) * step
        test_start = test_end - cfg.test_days * days
        val_end = test_start - test_gap * days
        val_start = val_end - cfg.validation_days * days
        train_end = val_start - cfg.validation_gap_days * days
        train_start = None if cfg.train_days is None else train_end - cfg.train_days * days
        folds.append(
            Fold(k, (train_start, train_end), (val_start, val_end), (test_start, test_end))
        )
    return folds


def check_settled_labels(cfg: BacktestSection, label_delay_days: float, *, refit: bool) -> None:
    """One WARNING before any fold trains when the rows a fold's final model trains on (train
    and, with the refit, validation) end less than the label delay before its cut-off: their
    labels are not settled then (a 0 may still become a fraud), so the fold's leakage check
    fails (`max_label_settled_at` past the cut-off) whenever those last days hold rows.
    `backtest --test-gap-days 0` trained every fold and only then printed `leakage checks:
    FAILED`, exit 1, naming no cause."""
    test_gap = label_delay_days if cfg.test_gap_days is None else cfg.test_gap_days
    gap = test_gap if refit else test_gap + cfg.validation_days + cfg.validation_gap_days
    if gap >= label_delay_days:
        return
    trained = "train and validation windows (the refit)" if refit else "train window"
    logger.warning(
        "backtest: each fold's model trains on its %s up to %g day(s) before its cut-off "
        "(backtest.test_gap_days %g), less than the label delay (features.label_delay_days "
        "%g): the labels of the rows of its last %g day(s) are not settled at the cut-off, so "
        "every fold's leakage check fails (`fraud-app backtest` exits 2 after the folds have "
        "trained). Set backtest.test_gap_days (--test-gap-days) to %g or more, or leave it "
        "null (the label delay)", trained, gap, test_gap, label_delay_days,
        label_delay_days - gap, test_gap + label_delay_days - gap,
    )  # fmt: skip


def check_fold_data(fold: Fold, first: dt.datetime | None, last: dt.datetime | None = None) -> None:
    """A fold whose train window ends before the data starts cannot train, one whose test
    window starts after it has nothing to score (it failed as 'no fraud rows'): say so."""
    if last is not None and fold.test[0] > last:
        raise ConfigError(
            f"backtest fold {fold.index}: its test window starts {fold.test[0]:%Y-%m-%d}, after "
            f"the last transaction ({last:%Y-%m-%d %H:%M:%S}). Set backtest.end (--end) within "
            "the data, or leave it unset (the day after the last transaction)"
        )
    if first is not None and fold.train[1] <= first:
        raise ConfigError(
            f"backtest fold {fold.index}: its train window ends {fold.train[1]:%Y-%m-%d}, before "
            f"the first transaction ({first:%Y-%m-%d}). Use fewer folds, a smaller step_days or "
            "shorter windows (backtest.*)"
        )
    if last is not None:
        _warn_test_past_data(fold, last)
    start = fold.train[0]
    if first is not None and start is not None and start < first:
        # it trains anyway, on less history than configured: folds are then not comparable
        held = (fold.train[1] - first).total_seconds() / 86_400
        configured = (fold.train[1] - start).total_seconds() / 86_400
        if configured - held < 0.05:  # minutes (data from 00:09): "16.0 of its 16 days"
            return
        logger.warning(
            "backtest fold %d: its train window starts %s, before the first transaction (%s): "
            "it trains on %.1f of its %g days (backtest.train_days); its figures are not "
            "comparable with the other folds'", fold.index, f"{start:%Y-%m-%d}",
            f"{first:%Y-%m-%d %H:%M}", held, configured,
        )  # fmt: skip


def _warn_test_past_data(fold: Fold, last: dt.datetime) -> None:
    """A test window that ends after the day of the last transaction (`backtest.end` past
    the data) scores only the days it holds data for: its figures rest on fewer days than
    the other folds' (it was accepted without a word as long as it started within the data,
    and the report gave the configured window)."""
    data_end = dt.datetime(last.year, last.month, last.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
    start, end = fold.test
    if end <= data_end:
        return
    held = max(0.0, (data_end - start).total_seconds() / 86_400)
    configured = (end - start).total_seconds() / 86_400
    logger.warning(
        "backtest fold %d: its test window (%s .. %s) runs past the data, whose last "
        "transaction is at %s: it scores %g of its %g days; its figures are not comparable "
        "with the other folds'. Set backtest.end (--end) to %s or earlier, or leave it unset "
        "(the day after the last transaction)", fold.index, f"{start:%Y-%m-%d %H:%M}",
        f"{end:%Y-%m-%d %H:%M}", f"{last:%Y-%m-%d %H:%M}", round(held, 2), configured,
        f"{data_end:%Y-%m-%d}",
    )  # fmt: skip


def check_test_overlap(folds: list[Fold]) -> None:
    """One WARNING when consecutive folds' test windows overlap (step_days < test_days):
    their rows then count in several folds, so the folds' figures are not independent and
    their std over folds understates how much a figure varies from window to window."""
    shared = [(a, b) for a, b in itertools.pairwise(folds) if b.test[0] < a.test[1]]
    if not shared:
        return
    a, b = shared[0]

    def days(delta: dt.timedelta) -> float:
        return round(delta.total_seconds() / 86_400, 2)

    logger.warning(
        "backtest: the test windows of consecutive folds overlap by %g day(s) (fold %d's "
        "%s .. %s and fold %d's %s .. %s; backtest.step_days %g < test_days %g): those rows "
        "count in more than one fold, so the folds are not independent windows and the std "
        "over folds understates the spread; set step_days >= test_days for disjoint test "
        "windows", days(a.test[1] - b.test[0]), a.index, f"{a.test[0]:%Y-%m-%d %H:%M}",
        f"{a.test[1]:%Y-%m-%d %H:%M}", b.index, f"{b.test[0]:%Y-%m-%d %H:%M}",
        f"{b.test[1]:%Y-%m-%d %H:%M}", days(b.test[1] - a.test[1]), days(a.test[1] - a.test[0]),
    )  # fmt: skip


def check_fold_dates(fold: Fold, timeline: dict | None) -> None:
    """A fold window that falls wholly into a gap of the data (dates without rows between
    the first and the last: fraud_app.timeline) is a ConfigError before any fold trains (a
    test window in an outage failed after its fold had trained, naming the window as a
    tuple of datetimes); one that holds incomplete dates gets a WARNING: its figures are
    not comparable."""
    windows = (("train", fold.train), ("validation", fold.validation), ("test", fold.test))
    for name, (start, end) in windows:
        if start is None:
            continue
        thin = dates_within(timeline, start, end)
        if not thin:
            continue
        span = f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}"
        days = (end - dt.timedelta(microseconds=1)).date() - start.date()
        if sum(1 for t in thin if not t.rows) == days.days + 1:
            raise ConfigError(
                f"backtest fold {fold.index}: its {name} window ({span}) holds no rows: "
                f"{describe_days(thin)} (a gap in the data). Move the folds so that each "
                "window holds data (backtest.end / --end, step_days, folds, or the window "
                "lengths), or deliver those dates"
            )
        logger.warning(
            "backtest fold %d: its %s window (%s) holds %d incomplete date(s): %s; the fold's "
            "figures rest on fewer transactions than the window spans and are not "
            "comparable with the other folds'", fold.index, name, span, len(thin),
            describe_days(thin),
        )  # fmt: skip
