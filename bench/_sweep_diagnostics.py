"""bench/backtest_sweep.py's diagnostics: figures the sweep reports beside its selection
figures and never chooses with (issue 10, run 8): the learning-curve sample of cards
(`"card_fraction"`), the AP on the rows each model trained on, the precision at the head of
each ranking, AP / top-k share per generator fraud pattern (ensemble vs XGBoost), and the
feature vector less the features `"drop"` names (which inputs a model's lead rests on), the
members' chosen passes and the share of the normals the balanced subsets use.
Pure NumPy on arrays the sweep hands over; tests/integration/test_backtest_sweep.py checks
them against brute-force figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.metrics import average_precision


def card_sample(card: np.ndarray, fraction: float | None):
    """`"card_fraction": f` (a learning curve on the same test windows): the training and
    validation windows keep the rows of a seeded share f of the cards, for both models; the
    features stay those of the whole data (each card's history is complete)."""
    if fraction is None:
        return lambda rows: rows
    ids, inverse = np.unique(card.astype(str), return_inverse=True)
    kept = np.random.default_rng(0).random(len(ids)) < fraction
    return lambda rows: rows[kept[inverse[rows]]]


def subset_use(its, parts, y: np.ndarray, batch: int) -> dict[str, Any]:
    """The members' chosen passes (chosen iterations / iterations per pass over the member's
    subset) and the share of the window's normals (y == 0) that any subset holds: whether
    early stopping hit the budget and whether balancing left normals unused (issue 10, run 13).
    `parts`: each member's subset as row indices into y, in the order of `its`."""
    passes = [round(i / np.ceil(len(p) / batch), 1) for i, p in zip(its, parts, strict=True)]
    rows = np.unique(np.concatenate(parts))
    normals = int((y == 0).sum())
    return {"passes": passes, "normal_share": round(int((y[rows] == 0).sum()) / max(1, normals), 3)}


def fit_diagnostics(fold, data, te, y_used, shipped, xgb_test, xgb_used) -> None:
    """Where the trees win (diagnosis only, never used to choose): AP on the rows each model
    was trained on (train + validation, labels known at the cut-off; under-fitting shows as a
    low figure) and the test window by generator pattern (first refit variant vs XGBoost)."""
    ens_test, ens_used = shipped
    fold["fit_ap"] = round(float(average_precision(y_used, ens_used)), 4)
    fold["xgb_fit_ap"] = round(float(average_precision(y_used, xgb_used)), 4)
    fold["test_by_pattern"] = by_pattern(data["y"][te], data["pattern"][te], ens_test, xgb_test)
    y = data["y"][te]  # the head of each ranking: precision among the top k of the week
    fold["test_precision_at"] = {k: [round(float(y[np.argsort(-s)[:k]].mean()), 4)
                                     for s in (ens_test, xgb_test)] for k in (50, 100, 200, 400)}  # fmt: skip


def by_pattern(y, pattern, ens, xgb) -> dict[str, Any]:
    """Validation AP of each model on the normals + the frauds of one generator pattern,
    and the share of that pattern's frauds each model ranks in its top (number of frauds)."""
    k = int(y.sum())
    top_e, top_x = np.argsort(-ens)[:k], np.argsort(-xgb)[:k]
    out = {}
    for p in sorted({str(v) for v in pattern[y == 1]}):
        is_p = (y == 1) & (pattern.astype(str) == p)
        rows = (y == 0) | is_p
        out[p] = {"n": int(is_p.sum()),
                  "ap_ens": round(float(average_precision(y[rows], ens[rows])), 4),
                  "ap_xgb": round(float(average_precision(y[rows], xgb[rows])), 4),
                  "top_ens": int(is_p[top_e].sum()), "top_xgb": int(is_p[top_x].sum())}  # fmt: skip
    return out


def without(cfg, data) -> np.ndarray:
    """The feature table's vector less the features `"drop": [names]` names (both models; a
    diagnosis: which inputs a model's lead rests on). An unknown name is an error."""
    drop = set(cfg.get("drop", []))
    if not drop:
        return data["X"]
    names = list(data["names"])
    if drop - set(names):
        raise ValueError(f"drop: {sorted(drop - set(names))} are not features of the table")
    return data["X"][:, [i for i, n in enumerate(names) if n not in drop]]
