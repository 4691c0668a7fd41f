"""Ranking metrics for imbalanced binary classification, in plain NumPy.

ROC AUC (Mann-Whitney U with average ranks for ties) and average precision
(step-wise area under the precision-recall curve, scikit-learn's definition).
Both are defined only when both classes are present; otherwise they return NaN.
Also the population stability index (PSI) of binned counts against reference shares,
which the drift reference (fraud_app.scoring.reference) and the dashboards share.
Labels must be 0 or 1 and scores finite: a NaN score sorts after every number, so a
model that scored some rows NaN got a plausible AUC (1.0 in a probe), and a label 2 or NaN
counted as fraud or normal without a word; both are a ConfigError naming the count.
"""

from __future__ import annotations

import numpy as np

from dlcore.errors import ConfigError, ShapeError


def nonfinite_scores_error(bad: int, rows: int) -> ConfigError:
    return ConfigError(
        f"scores must be finite: {bad} of {rows} are NaN or infinite; score "
        "rows with finite features, or drop the rows the model could not score"
    )


def _check(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ShapeError(
            f"y_true and scores must have the same length. Received {y.shape} and {s.shape}"
        )
    bad_scores = int(s.size - np.count_nonzero(np.isfinite(s)))
    if bad_scores:
        raise nonfinite_scores_error(bad_scores, s.size)
    yf = y.astype(np.float64, copy=False) if y.dtype.kind in "biuf" else None
    bad = ~((yf == 0) | (yf == 1)) if yf is not None else None
    if bad is None or bad.any():
        found = y.dtype if bad is None else np.unique(y[bad])[:5].tolist()
        raise ConfigError(f"y_true must hold only labels 0 and 1. Received values such as {found}")
    return (yf > 0.5).astype(np.int64), s


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    # Average rank for ties: positions [i, j) share rank (i + j + 1) / 2 (1-based).
    boundaries = np.flatnonzero(np.diff(s_sorted)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [s.size]))
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return auc_of_rank_sum(ranks[y == 1].sum(), n_pos, n_neg)


def auc_of_rank_sum(rank_sum: float, n_pos: int, n_neg: int) -> float:
    """Mann-Whitney's AUC of the positives' rank sum (1-based average ranks): the one
    formula `roc_auc` and the distributed figures (fraud_app.evaluation.spark_ranking) use,
    so both give the same bits."""
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(
    y_true: np.ndarray, scores: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """Step-wise average precision (scikit-learn's definition: thresholds at the distinct
    scores). sample_weight: each row counts this many times (a stratified sample's inverse
    sampling rates: the estimate of the whole window's AP); None = every row once."""
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # Thresholds at distinct score values: take the last index of each tie group.
    last = np.concatenate((np.flatnonzero(np.diff(s_sorted)), [s.size - 1]))
    if sample_weight is None:
        tp = np.cumsum(y_sorted)[last]
        fp = (last + 1) - tp
        total_pos: float = n_pos
    else:
        w = _weights(sample_weight, s.size)[order]
        tp = np.cumsum(w * y_sorted)[last]
        fp = np.cumsum(w * (1 - y_sorted))[last]
        total_pos = float(tp[-1])
    precision = tp / (tp + fp)
    recall = tp / total_pos
    recall_prev = np.concatenate(([0.0], recall[:-1]))
    return float(np.sum((recall - recall_prev) * precision))


def _weights(sample_weight: np.ndarray, n: int) -> np.ndarray:
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ShapeError(f"sample_weight must hold one weight per row ({n}). Received {w.shape}")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise ConfigError("sample_weight must hold finite weights > 0")
    return w


PSI_EPS = 1e-4


def population_stability_index(expected_props, actual_counts, *, eps: float = PSI_EPS):
    """sum_i (a_i - e_i) * ln(a_i / e_i) of `actual_counts` against `expected_props` (both
    renormalised; empty bins floored at `eps` so the logarithm stays finite, the usual
    practice). None when either side is empty. A ShapeError when the bin counts differ."""
    e = np.asarray(expected_props, dtype=np.float64).ravel()
    a = np.asarray(actual_counts, dtype=np.float64).ravel()
    if e.size != a.size:
        raise ShapeError(
            f"PSI needs one count per reference bin: {e.size} reference bins, "
            f"received {a.size} counts"
        )
    if e.size == 0 or a.sum() <= 0 or e.sum() <= 0:
        return None
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))
