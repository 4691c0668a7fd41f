"""Scoring metadata stored with a model at training time (contract C2) and the binning
every drift figure shares.

    metadata["scoring"] = {
      "alert_budget": b, "threshold": t,      # the threshold rows alert ceil(b * rows) rows
      "threshold_rows": {"window": "test_gap" | "validation", "start", "end", "rows",
                         "trained_on",        # which rows (pipelines/training/threshold.py)
                         "estimator": "pooled"},  # how: alert_threshold of all of them
      "feature_means": [...],                 # training window, the attribution baseline
      "reference": {"feature_edges": [[...]], "feature_props": [[...]],
                    "score_edges": [...], "score_props": [...]}}

Bins (one rule everywhere, also in the scoring summary, C3): `edges` are the distinct
inner decile cut points e_0 < ... < e_{m-1}; bin 0 is x <= e_0, bin i is
e_{i-1} < x <= e_i, bin m is x > e_{m-1}, so m + 1 bins (fewer than ten when many
values tie, as counts of rare events do). When the lowest cut point is the minimum
itself (a tenth or more of the values tie at it: a constant feature or score, a count
that is mostly 0), a cut just below it (`np.nextafter`) comes first, so a value below
the training range has a bin of its own (empty in training) instead of being counted
with the minimum; references stored before keep their edges. Pure NumPy; the Spark side (sampling the
training window) lives in `reference_from_training`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from dlcore.daily_ranking import alerts_for
from dlcore.metrics import population_stability_index
from fraud_app.errors import EmptyInputError

logger = logging.getLogger(__name__)

DECILES = np.linspace(0.1, 0.9, 9)


def alert_threshold(scores: np.ndarray, budget: float) -> float:
    """The score of the k-th highest row, k = dlcore.daily_ranking.alerts_for(budget, rows)
    = ceil(budget * rows): the rounding of the daily budget. `train` gives it the scores of
    the test gap, else of the validation window (pipelines/training/threshold.py).

    The scoring job alerts score >= threshold, one fixed score for every day. On the
    window it raises k alerts (more only on exact ties): the sum of the daily
    budgets ceil(budget * rows of the day) up to rounding (at most one alert a day fewer).
    A scored day raises budget * its rows alerts only when its scores are distributed as
    the window's; `evaluate`'s daily budget instead alerts each day's top ceil(budget *
    rows) (and the rows tied with the last of them, as here), the figure a team reviewing
    that many would see.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    s = s[np.isfinite(s)]
    if not s.size:
        raise EmptyInputError("cannot set an alert threshold: the window has no scores")
    if not 0 < budget < 1:
        raise ValueError(f"alert budget must be in (0, 1). Received: {budget}")
    k = alerts_for(budget, s.size)
    return float(np.partition(s, s.size - k)[s.size - k])


def warn_other_budget(meta: dict[str, Any], configured: float, uri: str) -> None:
    """One WARNING when `scoring.alert_budget` is not the budget the model's threshold was
    set for: `score` alerts at the stored threshold, so a budget changed after training
    (2 % in the config, a model trained at 1 %) changed nothing, and no line said so."""
    stored = meta.get("alert_budget")
    if stored is None or math.isclose(float(stored), float(configured), rel_tol=1e-9):
        return
    logger.warning(
        "scoring.alert_budget is %g, but model %s alerts at its stored threshold %.6g, set "
        "at training for the budget %g (the top ceil(%g x rows) rows of its %s window); "
        "`score` uses that threshold, so its alerts follow the budget %g. Train again with "
        "scoring.alert_budget %g for a threshold of that budget, or set it back to %g",
        configured, uri, float(meta["threshold"]), stored, stored, _threshold_window(meta),
        stored, configured, stored,
    )  # fmt: skip


def _threshold_window(meta: dict[str, Any]) -> str:
    """The window whose scores set the stored threshold (`threshold_rows`, session 35;
    before it, always validation), as a warning names it."""
    rows = meta.get("threshold_rows")
    window = rows.get("window") if isinstance(rows, dict) else None
    return "validation" if window is None else str(window).replace("_", " ")


def decile_edges(values: np.ndarray) -> np.ndarray:
    """The distinct inner decile cut points of the finite `values`, and a cut just below
    their minimum when the lowest decile is the minimum itself (module doc)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if not v.size:
        return np.zeros(0)
    edges = np.unique(np.quantile(v, DECILES))
    if edges[0] == v.min():
        # bin 0 (x <= e_0) would hold the minimum and everything below it: a constant
        # feature (or score) that fell on a scored date read PSI 0 (1.0 -> 0.0 unseen)
        edges = np.concatenate(([np.nextafter(edges[0], -np.inf)], edges))
    return edges


def bin_counts(values: np.ndarray, edges) -> np.ndarray:
    """Counts of `values` in the len(edges) + 1 bins (right-closed, see module doc)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    e = np.asarray(edges, dtype=np.float64)
    return np.bincount(np.searchsorted(e, v, side="left"), minlength=e.size + 1)


def _props(values: np.ndarray, edges: np.ndarray) -> list[float]:
    counts = bin_counts(values, edges)
    total = counts.sum()
    return (counts / total).tolist() if total else [0.0] * len(counts)


def reference_block(
    X: np.ndarray, scores: np.ndarray, days: np.ndarray | None = None
) -> dict[str, Any]:
    """Decile edges and proportions of every feature (columns of X) and of the score;
    with `days` (each row's date), also `feature_day_psi` / `score_day_psi`: how far one
    day of the window lies from the whole window (see `day_psi`)."""
    X = np.asarray(X, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    feature_edges = [decile_edges(X[:, j]) for j in range(X.shape[1])]
    feature_props = [_props(X[:, j], e) for j, e in enumerate(feature_edges)]
    score_edges = decile_edges(scores)
    block = {
        "feature_edges": [e.tolist() for e in feature_edges],
        "feature_props": feature_props,
        "score_edges": score_edges.tolist(),
        "score_props": _props(scores, score_edges),
    }
    if days is not None:
        groups = day_rows(days)  # once for every feature and the score
        block["feature_day_psi"] = [
            day_psi(X[:, j], groups, e, p)
            for j, (e, p) in enumerate(zip(feature_edges, feature_props, strict=True))
        ]
        block["score_day_psi"] = day_psi(scores, groups, score_edges, block["score_props"])
    return block


MIN_DAY_ROWS = 200  # a sampled day with fewer rows is too noisy to set a drift baseline


DAY_PSI_QUANTILE = 0.9


def day_rows(days: np.ndarray) -> list[np.ndarray]:
    """The row indices of each day with >= MIN_DAY_ROWS sampled rows (`days`: each row's
    date)."""
    _, inverse, counts = np.unique(np.asarray(days), return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(order, np.cumsum(counts)[:-1])
    return [g for g, n in zip(groups, counts, strict=True) if n >= MIN_DAY_ROWS]


def day_psi(values: np.ndarray, groups: list[np.ndarray], edges, props) -> float | None:
    """The 90th percentile, over the days of the training window (`groups`: day_rows, the
    days with >= MIN_DAY_ROWS sampled rows), of one day's PSI against the whole window;
    None with fewer than two such days.

    A scored date is one day; some features differ from a window of many days on EVERY
    day by construction: calendar features (one weekday a day; a weekend day further
    still) and encodings refreshed once a day (one value per category a day). Against
    0.2 alone the 1M run's dashboards flagged 18 of 35 features as drifted on every date
    of stationary data; they flag a date's PSI only above this baseline too. A quantile,
    not the largest: the first days of a window (30-day features not yet filled) lie
    far from it, and the largest would excuse any drift of those features."""
    if len(groups) < 2:
        return None
    found = [population_stability_index(props, bin_counts(values[g], edges)) for g in groups]
    found = [v for v in found if v is not None]
    return float(np.quantile(found, DAY_PSI_QUANTILE)) if found else None


def scoring_metadata(
    *,
    budget: float,
    feature_means: np.ndarray,
    sample_X: np.ndarray,
    sample_scores: np.ndarray,
    sample_days: np.ndarray | None = None,
    validation_scores: np.ndarray | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """The C2 block from already-collected arrays: the alert `threshold`, else
    alert_threshold of `validation_scores`."""
    if threshold is None:
        threshold = alert_threshold(validation_scores, budget)
    return {
        "alert_budget": float(budget),
        "threshold": float(threshold),
        "feature_means": [float(x) for x in feature_means],
        "reference": reference_block(sample_X, sample_scores, sample_days),
    }


def sample_features(
    df, features_col: str, rows_wanted: int, rows_total: int, seed: int = 0,
    day_of: str | None = None,
):  # fmt: skip
    """(rows, d) float32 of a seeded random sample of about `rows_wanted` rows of df; with
    `day_of` (a timestamp column), (that matrix, each row's UTC date as text)."""
    from pyspark.sql import functions as F

    from fraud_app.scoring.batch import feature_matrix

    fraction = min(1.0, rows_wanted / max(rows_total, 1))
    cols = [features_col]
    if day_of is not None:
        cols.append(F.date_format(day_of, "yyyy-MM-dd").alias("_day"))
    part = df.select(*cols)
    if fraction < 1.0:
        part = part.sample(fraction=fraction, seed=seed)
    table = part.toArrow()
    column = table.column(features_col).combine_chunks()
    width = len(column[0]) if len(column) else 0
    X = feature_matrix(column, width, [f"f{j}" for j in range(width)])
    if day_of is None:
        return X
    return X, np.asarray(table.column("_day").to_pylist(), dtype=object)


def reference_from_training(
    train_df, ensemble, *, threshold: float, budget: float, features_col: str,
    train_rows: int, reference_rows: int, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """C2 metadata: the alert `threshold` (set from the scores of the rows
    pipelines/training/threshold.py chose, at `budget`); means and deciles of the training
    window."""
    day_of = "timestamp" if "timestamp" in train_df.columns else None
    sample = sample_features(train_df, features_col, reference_rows, train_rows, seed, day_of)
    X, days = sample if day_of else (sample, None)
    if not len(X):
        raise EmptyInputError(
            "cannot build the drift reference: the training window sample is empty"
        )
    means = _standardize_mean(ensemble)
    if means is None:
        logger.warning("no Standardize layer: feature means come from the reference sample")
        means = X.astype(np.float64).mean(axis=0)
    return scoring_metadata(
        threshold=threshold,
        budget=budget,
        feature_means=means,
        sample_X=X,
        sample_scores=ensemble.predict_proba(X),
        sample_days=days,
    )


def _standardize_mean(ensemble) -> np.ndarray | None:
    """The training-window means the members standardise with (fit_ensemble sets them
    from the whole training window, not a sample)."""
    state = ensemble.members[0].layer.state()
    key = next((k for k in state if k.endswith("standardize.mean") or k == "mean"), None)
    return None if key is None else np.asarray(state[key], dtype=np.float64)


def training_range(ensemble) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, high) per feature: mean -+ clip x sd of the members' leading Standardize, the
    training window's statistics, beyond which the model clips an input (it scores and
    attributes such a value as if it sat at the bound). The narrowest over the members
    (beyond it at least one member clips); None when a member has no clipping Standardize
    (an imported model): no range known."""
    from dlcore.layers import Sequential, Standardize

    lows, highs = [], []
    for member in ensemble.members:
        layer = member.layer
        first = layer.layers[0] if type(layer) is Sequential else None
        if type(first) is not Standardize or first.clip is None:
            return None
        mean = np.asarray(first.mean, dtype=np.float64)
        scale = np.asarray(first.scale, dtype=np.float64)
        lows.append(mean - first.clip * scale)
        highs.append(mean + first.clip * scale)
    return np.max(lows, axis=0), np.min(highs, axis=0)
