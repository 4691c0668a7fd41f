"""mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"): train on convex
combinations of pairs of samples and of their labels.

Owns: one batch's mix. Each row i is mixed with row perm[i] of the same batch, with its own
weight lam_i ~ Beta(alpha, alpha): X_i' = lam_i X_i + (1 - lam_i) X_perm[i], and the label and
the sample weight alike, so the labels become soft (a loss that takes y in [0, 1] is needed:
binary cross-entropy does, focal loss is defined for 0/1 labels only). Deterministic for the
generator's state; the caller seeds it (the distributed worker with (seed, rank, iteration),
so the result does not depend on how iterations fall into groups and stages). Float arrays
keep their dtype; integer or boolean ones (0/1 labels, integer weights) come back as floats
(float64, float32 for booleans), as soft labels must.
"""

from __future__ import annotations

import math

import numpy as np

from dlcore.errors import ConfigError

SALT = 0x6D69787570  # "mixup": keeps this stream apart from dropout's / noise's for a seed


def mixup_batch(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    alpha: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(X', y', w'): the batch mixed with a permutation of itself (module doc); alpha 0: as is."""
    if isinstance(alpha, bool) or not math.isfinite(alpha) or alpha < 0:
        raise ConfigError(f"mixup: alpha must be a finite number >= 0. Received: {alpha!r}")
    n = len(X)
    if alpha == 0 or n < 2:
        return X, y, w
    lam = rng.beta(alpha, alpha, size=n)
    perm = rng.permutation(n)

    def mix(a: np.ndarray) -> np.ndarray:
        # in a float dtype: lam cast to an integer array's dtype was 0 (1 where lam was 1),
        # so integer 0/1 labels became the partner row's label while X was mixed by lam
        a = np.asarray(a)
        dt = np.result_type(a.dtype, np.float32) if a.dtype.kind != "f" else a.dtype
        weight = lam.astype(dt).reshape((n,) + (1,) * (a.ndim - 1))
        return a * weight + a[perm] * (1 - weight)

    return mix(X), mix(y), None if w is None else mix(w)


def mixup_rng(*seed: int) -> np.random.Generator:
    """The mix's generator for a seed tuple such as (seed, rank, iteration), salted apart
    from the streams of Dropout / GaussianNoise reseeded with the same tuple."""
    return np.random.default_rng([*seed, SALT])
