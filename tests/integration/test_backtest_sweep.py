"""bench/backtest_sweep.py's diagnostics (bench/_sweep_diagnostics.py, which the sweep
imports): the learning-curve sample and the fit / head-of-ranking figures (issue 10, run 8).
The sweep chooses nothing with them, but the report reads them, so they must be what they
say. No Spark, no XGBoost."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from dlcore.metrics import average_precision

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))  # the sweep imports its sibling _sweep_inputs
_spec = importlib.util.spec_from_file_location("bench_sweep", REPO / "bench" / "backtest_sweep.py")
sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sweep)


def test_card_sample_keeps_whole_cards_a_seeded_share_and_nothing_else():
    rng = np.random.default_rng(3)
    card = rng.integers(0, 2_000, 30_000).astype(str)
    rows = np.sort(rng.choice(len(card), 12_000, replace=False))
    kept = sweep.card_sample(card, 0.3)(rows)
    assert set(kept) <= set(rows)
    chosen = set(card[kept])
    # a card is in or out: every row of a kept card stays, no row of another one does
    assert all((c in chosen) == (i in set(kept)) for i, c in zip(rows, card[rows], strict=True))
    share = len(chosen) / len(set(card[rows]))
    assert 0.25 < share < 0.35
    assert np.array_equal(kept, sweep.card_sample(card, 0.3)(rows))  # seeded
    assert np.array_equal(sweep.card_sample(card, None)(rows), rows)
    # the same cards in every window: a card of both windows is kept in both or in neither
    other = np.setdiff1d(np.arange(len(card)), rows)
    chosen_other = set(card[sweep.card_sample(card, 0.3)(other)])
    both = set(card[rows]) & set(card[other])
    assert len(both) > 1_000
    assert {c for c in both if c in chosen} == {c for c in both if c in chosen_other}


def test_fit_diagnostics_match_brute_force_figures():
    rng = np.random.default_rng(5)
    n = 2_000
    y = (rng.random(n) < 0.05).astype(np.float32)
    pattern = np.where(rng.random(n) < 0.5, "a", "b").astype(object)
    ens, xgb = y + rng.random(n), rng.random(n)  # the "ensemble" ranks frauds first
    used_y, ens_used, xgb_used = y[:500], ens[:500], xgb[:500]
    fold: dict = {}
    data = {"y": y, "pattern": pattern}
    sweep.fit_diagnostics(fold, data, np.arange(n), used_y, (ens, ens_used), xgb, xgb_used)
    assert fold["fit_ap"] == round(float(average_precision(used_y, ens_used)), 4)
    assert fold["xgb_fit_ap"] == round(float(average_precision(used_y, xgb_used)), 4)
    for k, (p_ens, p_xgb) in fold["test_precision_at"].items():
        top = sorted(range(n), key=lambda i: -ens[i])[:k]
        assert p_ens == round(sum(y[i] for i in top) / k, 4)
        top = sorted(range(n), key=lambda i: -xgb[i])[:k]
        assert p_xgb == round(sum(y[i] for i in top) / k, 4)
    frauds = int(y.sum())
    assert fold["test_precision_at"][50][0] == 1.0  # 50 < the frauds, all ranked first
    a = fold["test_by_pattern"]["a"]
    assert a["n"] == int(((pattern == "a") & (y == 1)).sum())
    assert (
        a["top_ens"] == a["n"] and a["top_ens"] + fold["test_by_pattern"]["b"]["top_ens"] == frauds
    )


def test_drop_removes_the_named_features_for_both_models_and_refuses_unknown_names():
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    data = {"X": X, "names": ["a", "b", "c", "d"]}
    assert np.array_equal(sweep.without({"drop": ["b", "d"]}, data), X[:, [0, 2]])
    assert sweep.without({}, data) is X
    try:
        sweep.without({"drop": ["e"]}, data)
    except ValueError as exc:
        assert "['e'] are not features" in str(exc)
    else:
        raise AssertionError("an unknown name must be refused")


def test_min_frauds_keeps_an_indicator_only_with_enough_known_frauds_in_the_given_rows():
    names = ["amount", "mcc_is_a", "mcc_is_b", "mcc_is_c"]
    X = np.array([[5, 1, 0, 0], [6, 1, 0, 0], [7, 0, 1, 0], [8, 0, 1, 0], [9, 0, 0, 1]], float)
    yk = np.array([1, 1, 1, 0, 1], np.float32)
    cfg = {"min_frauds": {"columns": ["*_is_*"], "n": 2}}
    # a: 2 frauds, b: 1 (the other row is a normal), c: 1; "amount" matches no glob: kept
    assert sweep.min_frauds_columns(cfg, names, X, yk, np.arange(5)).tolist() == [
        True, True, False, False,
    ]  # fmt: skip
    # counted on the given rows only: without row 1, a has one fraud left
    assert sweep.min_frauds_columns(cfg, names, X, yk, np.array([0, 2, 3, 4])).tolist() == [
        True, False, False, False,
    ]  # fmt: skip
    assert sweep.min_frauds_columns({}, names, X, yk, np.arange(5)).all()


def test_subset_use_counts_passes_per_member_and_the_normals_any_subset_holds():
    y = np.array([1, 0, 0, 0, 0, 0, 1, 0, 0, 0], dtype=np.float32)  # 8 normals
    parts = [np.array([0, 6, 1, 2, 3]), np.array([0, 6, 3, 4])]  # normals 1-4 used, 3 twice
    out = sweep.subset_use([10, 6], parts, y, batch=2)
    # 5 rows / batch 2 = 3 iterations a pass; 4 rows = 2
    assert out["passes"] == [round(10 / 3, 1), 3.0]
    assert out["normal_share"] == 0.5  # 4 distinct normals of 8
