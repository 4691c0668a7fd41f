"""Input encodings and transforms that bench/backtest_sweep.py tries per configuration, in
NumPy: `"encode": "ple" | "rankgauss"` (with `_aug`: beside the raw features), fitted per fold
on the rows given (no labels), and `"transform"` (signed log / quantile), fitted on all rows
(an exploration shortcut, not what a model may do at training time)."""

from __future__ import annotations

import numpy as np


def fitted_transform(cfg, X_fit: np.ndarray):
    """Per-fold input encodings fitted on the rows given (no labels), as a model would store
    them: "ple" (piecewise-linear encoding on quantile bin edges), "rankgauss" (empirical
    CDF -> normal quantile); "<kind>_aug" keeps the raw features beside the encoding."""
    kind = cfg.get("encode")
    if not kind:
        return lambda X: X
    base, aug = kind.removesuffix("_aug"), kind.endswith("_aug")
    bins = cfg.get("encode_bins", 8)
    if base == "ple":
        edges = [ple_edges(X_fit[:, j], bins) for j in range(X_fit.shape[1])]
        fn = lambda X: ple_apply(X, edges)  # noqa: E731
    elif base == "rankgauss":
        refs = [np.sort(X_fit[:, j])[:: max(1, len(X_fit) // 4096)] for j in range(X_fit.shape[1])]
        fn = lambda X: rankgauss_apply(X, refs)  # noqa: E731
    else:
        raise ValueError(kind)
    return (lambda X: np.hstack([X, fn(X)]).astype(np.float32)) if aug else fn


def ple_edges(x: np.ndarray, bins: int) -> np.ndarray:
    levels = np.linspace(0, 1, bins + 1)
    vals, counts = np.unique(x, return_counts=True)
    rest = x[x != vals[np.argmax(counts)]]  # the values besides the most frequent one
    e = np.quantile(x, levels)
    if len(rest):
        e = np.concatenate([e, np.quantile(rest, levels)])
    return np.unique(e)


def ple_apply(X: np.ndarray, edges) -> np.ndarray:
    cols = []
    for j, e in enumerate(edges):
        if len(e) < 2:
            continue
        t = (X[:, j : j + 1] - e[:-1]) / (e[1:] - e[:-1])
        cols.append(np.clip(t, 0, 1))
    return np.hstack(cols).astype(np.float32)


def rankgauss_apply(X: np.ndarray, refs) -> np.ndarray:
    from statistics import NormalDist

    out = np.empty_like(X)
    for j, r in enumerate(refs):
        n = len(r)  # mid-rank of ties: p = (lo + hi) / (2 n), looked up in a table
        p = np.clip(np.arange(2 * n + 1) / (2 * n), 0.5 / n, 1 - 0.5 / n)
        table = np.array([NormalDist().inv_cdf(float(v)) for v in p])
        lo = np.searchsorted(r, X[:, j], side="left")
        hi = np.searchsorted(r, X[:, j], side="right")
        out[:, j] = table[lo + hi]
    return out.astype(np.float32)


def transform(cfg, X: np.ndarray) -> np.ndarray:
    """Input transforms tried before Standardize (per config). Fitted on all rows (no
    labels used): an exploration shortcut, not what a model may do at training time."""
    kind = cfg.get("transform")
    if kind == "signed_log1p":
        return (np.sign(X) * np.log1p(np.abs(X))).astype(np.float32)
    if kind == "log_heavy":  # signed log1p only where the std-scaled tail passes 10
        z = np.abs(X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
        heavy = z.max(0) > 10
        out = X.copy()
        out[:, heavy] = np.sign(X[:, heavy]) * np.log1p(np.abs(X[:, heavy]))
        return out
    if kind == "quantile":  # empirical CDF per feature (101 quantiles), to [-1, 1]
        qs = np.quantile(X, np.linspace(0, 1, 101), axis=0)
        out = np.empty_like(X)
        for j in range(X.shape[1]):
            q = qs[:, j]
            # ties: the mean rank of equal quantiles (a spike at 0 maps to one value)
            lo = np.searchsorted(q, X[:, j], side="left")
            hi = np.searchsorted(q, X[:, j], side="right")
            frac = np.interp(X[:, j], q, np.linspace(0, 1, 101))
            frac = np.where(hi > lo, (lo + hi - 1) / 2 / 100, frac)
            out[:, j] = 2 * frac - 1
        return out.astype(np.float32)
    return X
