"""Synthetic saved files of a deployment after `days` days in production, for the
benchmark and the tests of the per-render report index: a training run every week (its
model, test scores, training and evaluation reports), a scoring summary every day (one
date, per-feature histograms, for the model of that week) and a validation report per
suite every day. File times follow the calendar (a training report's time decides which
validation report is that run's data). Not used by the pages themselves.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dashboards.sources import Sources
from dashboards.synthetic import (
    SyntheticRun,
    _data_files,
    _evaluation,
    _reference,
    _scored_date,
    _scores,
    _training,
    sources_for,
)

START = dt.datetime(2025, 1, 6, tzinfo=dt.UTC)
SUITES = ("canonical", "features")


@dataclass(frozen=True)
class SyntheticYear:
    days: int = 365
    train_every_days: int = 7
    members: int = 3
    groups: int = 10
    test_rows: int = 2_000
    features: int = 35
    seed: int = 0


def _dump(path: Path, doc: dict, when: dt.datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    os.utime(path, (when.timestamp(), when.timestamp()))


def run_name(week: int) -> str:
    return f"w{week:03d}"


def _write_training(src: Sources, spec: SyntheticYear, week: int, names: list[str]) -> None:
    run = run_name(week)
    rng = np.random.default_rng(spec.seed + week)
    one = SyntheticRun(run=run, members=spec.members, groups=spec.groups,
                       test_rows=spec.test_rows, features=spec.features)  # fmt: skip
    when = START + dt.timedelta(days=week * spec.train_every_days, hours=2)
    df, patterns = _scores(one, rng)
    (src.scores / run).mkdir(parents=True, exist_ok=True)
    df.to_parquet(src.scores / run / "part-00000.parquet", index=False)
    model_dir = src.models / run
    scoring_meta = {"alert_budget": 0.01, "threshold": 0.2, "reference": _reference(one, rng)}
    _dump(model_dir / "ensemble.json", {"metadata": {"scoring": scoring_meta}}, when)
    training = _training(one, rng, names, df, model_dir)
    training["registry"] = {**training["registry"], "version": week + 1}
    _dump(src.reports / f"training-{run}.json", training, when)
    _dump(src.reports / f"evaluation-{run}-test.json", _evaluation(df, patterns, model_dir), when)


def _write_day(src: Sources, spec: SyntheticYear, day: int, names: list[str], reference) -> None:
    rng = np.random.default_rng(spec.seed + 100_000 + day)
    when = START + dt.timedelta(days=day, hours=6)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    for suite in SUITES:
        results = [{"name": f"col_{i}:not_null", "expectation": "ExpectColumnValuesToNotBeNull",
                    "column": f"col_{i}", "severity": "error", "success": True, "observed": None,
                    "unexpected_count": 0, "unexpected_percent": 0.0, "examples": [],
                    "error": None} for i in range(12)]  # fmt: skip
        _dump(src.reports / f"{suite}_validation-{stamp}.json", {
            "suite": suite, "table": suite, "checked_at": when.isoformat(), "results": results,
            "success": True, "n_errors": 0, "n_warnings": 0}, when)  # fmt: skip
    model_dir = src.models / run_name(day // spec.train_every_days)
    date = _scored_date(day % 60, names, rng)
    date["date"] = when.date().isoformat()
    _dump(src.reports / f"scoring-{stamp}.json", {
        "job_id": stamp, "model_uri": str(model_dir), "model_name": None, "model_version": None,
        "threshold": 0.2, "created_at": when.isoformat(), "dates": [date],
        "reference": reference, "feature_names": names}, when)  # fmt: skip


def write_year(root: Path, spec: SyntheticYear = SyntheticYear()) -> Sources:
    """Every input file of `spec.days` days in production under `root`; returns Sources."""
    src = sources_for(root)
    names = [f"feature_{j:02d}" for j in range(spec.features)]
    weeks = (spec.days + spec.train_every_days - 1) // spec.train_every_days
    for week in range(weeks):
        _write_training(src, spec, week, names)
    reference = _reference(SyntheticRun(features=spec.features), np.random.default_rng(0))
    for day in range(spec.days):
        _write_day(src, spec, day, names, reference)
    _data_files(replace(src), np.random.default_rng(spec.seed))
    # _data_files' validation report is from 2024: older than every run's training
    return src
