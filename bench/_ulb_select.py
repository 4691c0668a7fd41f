"""Choosing configurations in bench/ulb.py: time-ordered folds and top-k mixes (driver only).

Owns the pure parts of the benchmark's selection protocol, so they can be tested without
Spark or the data: where each fold's fit and validation rows lie, how a configuration's
score over the folds is formed, and how the mean of the top-k configurations is scored.
It never looks at the test part: a mix's test AP is computed only to be reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score


def time_folds(n: int, val_share: float, k: int) -> list[tuple[slice, slice]]:
    """(fit, validation) row ranges of k time-ordered folds inside the training part.

    The training part is the earliest 80 % of n rows; its last `val_share` is fold 0's
    validation block (the benchmark's standard split). Fold i's block is the i-th such block
    counted back from the end of the training part, and fold i fits on every row before it
    (forward chaining: no fold ever trains on rows later than the ones it is scored on).
    """
    n_train = int(0.8 * n)
    block = n_train - int(n_train * (1 - val_share))
    if k < 1 or block < 1 or n_train - k * block < 1:
        raise ValueError(
            f"--cv-folds {k} with --val-share {val_share}: {k} validation blocks of {block} rows "
            f"leave no fit rows in a training part of {n_train}; use fewer folds or a smaller "
            "--val-share"
        )
    return [
        (slice(0, n_train - (i + 1) * block), slice(n_train - (i + 1) * block, n_train - i * block))
        for i in range(k)
    ]


def ap(y: np.ndarray, p: np.ndarray) -> float:
    return float(average_precision_score(y, p))


@dataclass
class Scored:
    """One candidate's probabilities: per fold on that fold's validation rows (row order of
    the fold's labels), and on the test part (from fold 0's model)."""

    val: list[np.ndarray]
    test: np.ndarray


def fold_score(y_vals: list[np.ndarray], val: list[np.ndarray]) -> tuple[float, list[float]]:
    """(selection score, per-fold AP): the mean of the folds' validation APs."""
    per_fold = [ap(y, p) for y, p in zip(y_vals, val, strict=True)]
    return float(np.mean(per_fold)), per_fold


def mean_of(members: list[Scored]) -> Scored:
    """The candidate whose probability is the mean of the members' (fold by fold)."""
    folds = len(members[0].val)
    return Scored(
        val=[np.mean([m.val[f] for m in members], axis=0) for f in range(folds)],
        test=np.mean([m.test for m in members], axis=0),
    )


def top_k_mixes(ranked: list[Scored], k_max: int) -> list[tuple[int, Scored]]:
    """(k, mean of the k best) for k = 2 .. k_max; `ranked` best first by validation score."""
    return [(k, mean_of(ranked[:k])) for k in range(2, min(k_max, len(ranked)) + 1)]


def named_mixes(cands: list[Scored], groups: list[list[int]]) -> list[Scored]:
    """The mean of each group of candidates, named by their indices (in the order given,
    declared before the run: `--mixes`), e.g. an ensemble with a single network."""
    for g in groups:
        if len(g) < 2 or any(not 0 <= i < len(cands) for i in g):
            raise ValueError(
                f"--mixes {g}: each mix names at least two configurations by their index in "
                f"--ours, 0..{len(cands) - 1}"
            )
    return [mean_of([cands[i] for i in g]) for g in groups]


def hour_of_day(time_s: np.ndarray) -> np.ndarray:
    """(n, 2) float32: the hour of the day of `Time` (seconds since the first transaction,
    which the data set's authors place at midnight) on the unit circle (sin, cos)."""
    angle = 2 * np.pi * (np.asarray(time_s, np.float64) % 86400) / 86400
    return np.stack([np.sin(angle), np.cos(angle)], axis=1).astype(np.float32)
