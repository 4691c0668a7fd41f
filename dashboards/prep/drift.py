"""Drift of scored data vs the training window: population stability index (PSI).

PSI = sum_i (a_i - e_i) * ln(a_i / e_i) over the reference bins, where e_i is the share of
the training window in bin i (the C2 reference block: decile proportions) and a_i the
share of one scored date (C3 counts in the same bins). Empty bins are floored at `eps` so
the logarithm stays finite (the usual practice; Yurdakul 2018, "Statistical properties
of the population stability index"). Common reading: < 0.1 stable, 0.1-0.2 moderate
shift, > 0.2 significant shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dashboards.errors import DashboardInputError
from dlcore.errors import ShapeError
from dlcore.metrics import PSI_EPS, population_stability_index

EPS = PSI_EPS
DEFAULT_THRESHOLD = 0.2


def psi(expected_props, actual_counts, *, eps: float = EPS) -> float | None:
    """PSI of `actual_counts` against `expected_props` (dlcore.metrics, the one definition
    the drift reference shares). None when either side is empty (no rows scored that
    date, or no reference)."""
    try:
        return population_stability_index(expected_props, actual_counts, eps=eps)
    except ShapeError as exc:  # its own check of the bin counts, with the dashboards' hint
        raise DashboardInputError(
            f"{exc}. Score with the model whose reference you compare to"
        ) from exc


@dataclass(frozen=True)
class DriftTable:
    """PSI per feature (rows, most drifted first) and scored date (columns)."""

    dates: list[str]
    features: list[str]
    values: list[list[float | None]]  # values[f][d]
    threshold: float
    # per feature: the PSI above which a date is flagged: the threshold, or the PSI that 9
    # of 10 days of the training window stay within against the window when that is
    # higher (reference `feature_day_psi`; calendar features and daily encodings differ
    # from a window of many days on every day). Empty: the threshold for every feature.
    limits: list[float] = field(default_factory=list)

    def limit(self, index: int) -> float:
        return self.limits[index] if self.limits else self.threshold

    def ratios(self) -> list[list[float | None]]:
        """values / the feature's flag level: above 1 is flagged (the heatmap's colour, so a
        calendar feature that differs from the window every day is not the reddest row)."""
        return [
            [None if v is None else v / self.limit(i) for v in row]
            for i, row in enumerate(self.values)
        ]

    def over_threshold(self, date_index: int = -1) -> list[str]:
        return [
            name
            for i, (name, row) in enumerate(zip(self.features, self.values, strict=True))
            if row and row[date_index] is not None and row[date_index] > self.limit(i)
        ]


def feature_drift(
    reference: dict[str, Any],
    dates: list[dict[str, Any]],
    feature_names: list[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> DriftTable:
    """PSI of every feature on every scored date; features sorted by their peak PSI over
    their flag level (`day_limit`; highest first, features never measured last), ties by
    name: a feature whose single training days already differ from the window (a calendar
    feature) ranks by how far it goes beyond that, not by its raw PSI."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold > 0:
        raise DashboardInputError(
            f"psi_threshold is {threshold!r}; expected a number above 0 (e.g. 0.2)"
        )
    props = reference.get("feature_props") or []
    if len(props) != len(feature_names):
        raise DashboardInputError(
            f"reference.feature_props has {len(props)} entries for {len(feature_names)} "
            "feature_names; expected one list of bin proportions per feature (contract C2)"
        )
    baselines = reference.get("feature_day_psi") or [None] * len(feature_names)
    if len(baselines) != len(feature_names):
        raise DashboardInputError(
            f"reference.feature_day_psi has {len(baselines)} entries for {len(feature_names)} "
            "feature_names; expected one per feature (contract C2)"
        )
    rows = []
    for name, expected, base in zip(feature_names, props, baselines, strict=True):
        row = []
        for d in dates:
            counts = (d.get("features") or {}).get(name, {}).get("counts")
            row.append(None if counts is None else psi(expected, counts))
        rows.append((name, row, day_limit(threshold, base)))
    rows.sort(key=lambda r: (-_peak([None if v is None else v / r[2] for v in r[1]]), r[0]))
    return DriftTable(
        [str(d["date"]) for d in dates], [r[0] for r in rows], [r[1] for r in rows], threshold,
        [r[2] for r in rows],
    )  # fmt: skip


def day_limit(threshold: float, day_psi) -> float:
    """The PSI above which a date is flagged: the threshold, or the training window's own
    one-day PSI baseline when higher (None / not a number: the threshold)."""
    if isinstance(day_psi, bool) or not isinstance(day_psi, int | float) or day_psi != day_psi:
        return threshold
    return max(threshold, float(day_psi))


def _peak(row: list[float | None]) -> float:
    vals = [v for v in row if v is not None]
    return max(vals) if vals else -math.inf


def score_drift(reference: dict[str, Any], dates: list[dict[str, Any]]) -> list[float | None]:
    """PSI of the score distribution of each scored date vs the training window."""
    expected = reference.get("score_props") or []
    return [psi(expected, d.get("score_counts") or [0] * len(expected)) for d in dates]


def shares(counts) -> list[float] | None:
    """Counts -> proportions (None when there are none)."""
    c = np.asarray(counts, dtype=np.float64).ravel()
    return [float(v) for v in c / c.sum()] if c.size and c.sum() > 0 else None
