"""`features` and `splits` config sections: the shape of the config only.

fraud_app.features.spec / compile interpret `features`; fraud_app.features.splits
interprets `splits`. Precedence: defaults < config file < CLI flags (commands/features).
"""

from __future__ import annotations

import datetime as dt
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
        elif any(v is not None for v in windows.values()):
            given = [k for k, v in windows.items() if v is not None]
            raise ValueError(f"windows {given} are only used with by: dates (by is 'lengths')")
        return self

    def gaps(self, label_delay_days: float) -> tuple[float, float]:
        """(gap before validation, gap before test) in days."""
        validation = self.validation_gap_days
        test = self.test_gap_days
        if validation is None:
            validation = 0.0 if self.gap_days is None else self.gap_days
        if test is None:
            test = label_delay_days if self.gap_days is None else self.gap_days
        return validation, test
