"""`features` and `splits` config sections: the shape of the config only.

fraud_app.features.spec / compile interpret `features`; fraud_app.features.splits
interprets `splits`. Precedence: defaults < config file < CLI flags (commands/features).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, field_validator, model_validator

from fraud_app.config_base import Section
from fraud_app.schema import CANONICAL_COLUMNS, PARTITION_COLUMN
from fraud_app.uris import local_path, not_local


class FeaturesSection(Section):
    """Which feature specs to compute and the label-availability rule.

    `label_delay_days`: a label without label_time is known this long after its
    transaction; also the lag of "mature" fraud rates and the default split gap.
    `spec_dir`: the folder of feature specs; None = the specs shipped with the package
    (`feature_specs/` in a checkout; `fraud-app init` copies them for editing).
    `spec_files`: names inside `spec_dir` (None = every *.yaml there, sorted by name).
    `input` / `output`: None = the ETL's output (etl.output, else paths.canonical) /
    paths.features.
    `incremental`: recompute only the event dates from the first canonical date whose
    files changed since the table was built (an append, a labels run), with the history
    their windows read; a date whose rows changed only in label / label_time moves that
    start to the first date such a label reaches (when it is known, under its new or old
    value), its own date rewritten with the new labels; anything it cannot vouch for (no
    record, changed specs or settings, a damaged table) is a full rebuild, named in the
    log. false (or
    `features --full`): always rebuild the whole table.
    """

    spec_dir: str | None = None
    spec_files: tuple[str, ...] | None = None
    label_delay_days: float = Field(7.0, ge=0, le=3650)
    vector_column: str | None = Field(
        "features", min_length=1
    )  # None: no assembled array<float> column
    input: str | None = None
    output: str | None = None
    incremental: bool = True

    @field_validator("spec_dir")
    @classmethod
    def _spec_dir_is_local(cls, value: str | None) -> str | None:
        """Python reads the specs: `hdfs://nn/specs` was the local folder `hdfs:/nn/specs`
        ("does not exist"); a `file:` URI was a folder `file:` in the working directory."""
        if value is not None and local_path(value) is None:
            raise ValueError(not_local(value, writes=False))
        return value

    @field_validator("spec_files")
    @classmethod
    def _spec_files_are_local(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        remote = [f for f in value or () if local_path(f) is None]
        if remote:
            raise ValueError("; ".join(not_local(f, writes=False) for f in remote))
        return value

    @field_validator("vector_column")
    @classmethod
    def _vector_column_own_name(cls, value: str | None) -> str | None:
        """`vector_column: label` stopped in Spark (`Reference 'label' is ambiguous`)."""
        taken = (*(c.name for c in CANONICAL_COLUMNS), PARTITION_COLUMN)
        # ignoring case: `LABEL` was accepted, and the write stopped on COLUMN_ALREADY_EXISTS
        # after the features were computed
        if value is not None and (value.lower() in taken or value.startswith("_")):
            raise ValueError(
                f"{value!r} is a column of the canonical or feature table ({', '.join(taken)}; "
                "names starting with '_' are the compiler's own); give the assembled vector a "
                "name of its own, e.g. features"
            )
        return value


class SplitWindow(Section):
    """[start, end) in UTC dates; end is exclusive."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> SplitWindow:
        if self.end <= self.start:
            raise ValueError(
                f"end must be after start (end is exclusive). Received: start={self.start}, end={self.end}"
            )
        return self


class SplitsSection(Section):
    """Time-based train / validation / test windows with a gap before validation and before test.

    by: "lengths" counts days back from `end` (default: the day after the last
    transaction): test = the last `test_days`, the test gap, validation, the validation
    gap, train (`train_days`, or everything earlier when None). by: "dates" takes the
    three windows as given (and checks the gaps).

    test_gap_days (default: features.label_delay_days) separates validation from test,
    so every train and validation label is known when the model is trained (at the start
    of test). validation_gap_days (default 0) separates train from validation: 0 uses
    every labelled row, the label delay would make validation mimic deployment exactly at
    the cost of a labelled week. gap_days (older key) sets both when they are not given.
    """

    by: Literal["lengths", "dates"] = "lengths"
    train_days: float | None = Field(None, gt=0)
    validation_days: float = Field(7.0, gt=0)
    test_days: float = Field(7.0, gt=0)
    gap_days: float | None = Field(None, ge=0)
    validation_gap_days: float | None = Field(None, ge=0)
    test_gap_days: float | None = Field(None, ge=0)
    end: dt.date | None = None
    train: SplitWindow | None = None
    validation: SplitWindow | None = None
    test: SplitWindow | None = None

    @model_validator(mode="after")
    def _mode_fields(self) -> SplitsSection:
        windows = {"train": self.train, "validation": self.validation, "test": self.test}
        if self.by == "dates":
            missing = [k for k, v in windows.items() if v is None]
            if missing:
                raise ValueError(
                    f"by: dates needs train, validation and test windows. Missing: {missing}"
                )
            # the lengths' keys were accepted and ignored: `end: 2024-03-01` or
            # `test_days: 3` beside dates trained on the dates' windows without a word.
            # Only a value other than the default: a config written with every key (tune's
            # trial configs, `model_dump()`, a run's logged config) holds the defaults, and
            # they change nothing under either `by` (review51d: tune refused every trial)
            ignored = [k for k in LENGTHS_KEYS if k in self.model_fields_set
                       and getattr(self, k) != type(self).model_fields[k].default]  # fmt: skip
            if ignored:
                raise ValueError(
                    f"{', '.join('splits.' + k for k in ignored)} count the windows back from `end` with by: lengths; "
                    "with by: dates the train, validation and test windows are the dates given, "
                    "so they would be ignored: remove them (or set by: lengths)"
                )
        elif any(v is not None for v in windows.values()):
            given = [k for k, v in windows.items() if v is not None]
            raise ValueError(f"windows {given} are only used with by: dates (by is 'lengths')")
        return self

    def date_windows_problem(self, label_delay_days: float) -> str | None:
        """by: dates: what is wrong with the windows given, in order and apart by the gaps
        (`window_order_problem`), None when nothing is (or with by: lengths, whose windows
        depend on the data's last date). Checked when the config is read: it was found
        only by `train` / `tune`, after Spark started and read the feature table (in
        `fraud-app run`, after the whole ETL and feature build)."""
        if self.by != "dates" or None in (self.train, self.validation, self.test):
            return None
        windows = [(name, utc_midnight(w.start), utc_midnight(w.end))
                   for name, w in zip(SPLIT_NAMES, (self.train, self.validation, self.test),
                                      strict=True)]  # fmt: skip
        return window_order_problem(windows, self.gaps(label_delay_days))

    def gaps(self, label_delay_days: float) -> tuple[float, float]:
        """(gap before validation, gap before test) in days."""
        validation = self.validation_gap_days
        test = self.test_gap_days
        if validation is None:
            validation = 0.0 if self.gap_days is None else self.gap_days
        if test is None:
            test = label_delay_days if self.gap_days is None else self.gap_days
        return validation, test


SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")
# the keys of by: lengths that by: dates does not read (the gaps apply to both)
LENGTHS_KEYS = ("train_days", "validation_days", "test_days", "end")

_GAP_REASON = {
    "validation": "validation_gap_days",
    "test": "test_gap_days, default features.label_delay_days; the test gap is the label "
    "delay: train and validation labels must be known when the model is trained, before test "
    "starts",
}


def utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def window_order_problem(
    windows: Sequence[tuple[str, dt.datetime | None, dt.datetime]],
    gaps_days: tuple[float, float],
) -> str | None:
    """What is wrong with the split windows (name, start, end) in the order train,
    validation, test (only train may have no start): an empty one, an overlap, a gap
    shorter than (before validation, before test) days. None when nothing is."""
    for name, start, end in windows:
        if start is not None and end <= start:
            return (f"splits.{name} is empty: end {end:%Y-%m-%d %H:%M} must be after start "
                    f"{start:%Y-%m-%d %H:%M}")  # fmt: skip
    pairs = itertools.pairwise(windows)
    for ((before, _, before_end), (after, after_start, _)), gap_days in zip(
        pairs, gaps_days, strict=True
    ):
        gap = dt.timedelta(days=gap_days)
        start = after_start or before_end  # only train can be open-ended, and it comes first
        if start < before_end:
            return (
                f"splits.{after} (from {start:%Y-%m-%d}) overlaps or precedes "
                f"splits.{before} (until {before_end:%Y-%m-%d}): windows must be in the order "
                f"{list(SPLIT_NAMES)} without overlap"
            )
        if start - before_end < gap:
            return (
                f"splits.{after} starts {start:%Y-%m-%d %H:%M}, less than the gap of "
                f"{gap_days:g} days after splits.{before} ends ({before_end:%Y-%m-%d %H:%M}). "
                f"Move it to {before_end + gap:%Y-%m-%d %H:%M} or later (splits."
                f"{_GAP_REASON[after]})"
            )
    return None
