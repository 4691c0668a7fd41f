"""Checks of the test-window scores (C5) before the pages draw them: the columns the
score sections read, and finite scores (dashboards.sources reads the file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dashboards.errors import DashboardInputError


def _score_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c == "fraud_score" or c.startswith(("member_", "baseline_"))]


SCORE_COLUMNS = ("label", "fraud_score")  # what the score sections read (C5)


def scored_columns(df: pd.DataFrame | None, path: Path) -> pd.DataFrame | None:
    """The test scores, or a DashboardInputError naming the C5 columns they lack: a file
    without `label` or `fraud_score` left the curves, histogram and threshold table out
    with no word on the page (and `fraud-app dashboards` exited 0)."""
    if df is None:
        return None
    lacking = [c for c in SCORE_COLUMNS if c not in df.columns]
    if lacking:
        raise DashboardInputError(
            f"{path}: no column {', '.join(lacking)}; the test-window scores (written by "
            "`fraud-app train`) hold transaction_id, card_id, timestamp, label, fraud_score "
            f"and member_* / baseline_* columns. Found: {', '.join(map(str, df.columns[:12]))}"
            f"{' ...' if len(df.columns) > 12 else ''}"
        )
    return df


def finite_scores(
    df: pd.DataFrame | None, path: Path, unreadable: dict[str, str]
) -> pd.DataFrame | None:
    """The test scores whose score columns (ensemble, member, baseline) are finite among
    the labelled rows (the rows the pages draw). A NaN sorts below every number: a member
    that scored every normal NaN drew AP and AUC 1.000, and a NaN ensemble score took the
    whole model-quality page (headline figures, registry decision) down. A member or
    baseline column that is not finite is left out, named in `unreadable`
    ("score_columns"); a `fraud_score` that is not is a DashboardInputError (the sections
    that read the scores say so)."""
    if df is None:
        return None
    rows = df["label"].notna().to_numpy() if "label" in df.columns else slice(None)
    bad = {}
    for col in _score_columns(df):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)[rows]
        if n := int(values.size - np.count_nonzero(np.isfinite(values))):
            bad[col] = f"{col} {n:,} of {values.size:,}"
    if not bad:
        return df
    why = (
        f"{path}: scores must be finite; NaN, infinite or not numbers among the labelled "
        f"rows: {', '.join(bad.values())}. Score the test window again (`fraud-app train` "
        "writes it) with a model that gives finite scores"
    )
    if "fraud_score" in bad:
        raise DashboardInputError(why)
    unreadable["score_columns"] = f"{why}; left out of the curves"
    return df.drop(columns=list(bad))
