"""BestSnapshots: keeps the k best, averages their weights, deterministic on ties."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.errors import ConfigError
from dlcore.training.snapshots import BestSnapshots


def _weights(v: float) -> np.ndarray:
    return np.full(4, v, np.float32)


def test_keeps_the_k_best_and_averages_their_parameters() -> None:
    snaps = BestSnapshots(3)
    state = {"std/mean": np.arange(2.0)}
    for step, score in enumerate([0.5, 0.9, 0.7, 0.2, 0.8, 0.6]):
        snaps.offer(score, step, _weights(step), {"std/mean": state["std/mean"] + step})
    assert snaps.steps == [1, 4, 2]  # scores 0.9, 0.8, 0.7
    params, kept_state = snaps.average()
    assert params.dtype == np.float32
    np.testing.assert_allclose(params, _weights((1 + 4 + 2) / 3))
    np.testing.assert_array_equal(kept_state["std/mean"], [1.0, 2.0])  # the best's state


def test_k_one_is_the_best_snapshot_and_copies_are_kept() -> None:
    snaps = BestSnapshots(1)
    live = _weights(1.0)
    assert snaps.offer(0.4, 1, live, {})
    live[:] = 9.0  # the trainer goes on changing its buffer
    assert not snaps.offer(0.3, 2, live, {})
    np.testing.assert_array_equal(snaps.average()[0], _weights(1.0))


def test_ties_go_to_the_earlier_snapshot_and_nan_is_never_kept() -> None:
    snaps = BestSnapshots(2)
    for step in range(4):
        snaps.offer(0.5, step, _weights(step), {})
    assert not snaps.offer(float("nan"), 9, _weights(9), {})
    assert snaps.steps == [0, 1]
    assert len(snaps) == 2


def test_the_same_offers_give_the_same_bits() -> None:
    rng = np.random.default_rng(0)
    offers = [
        (float(rng.random()), i, rng.standard_normal(1000).astype(np.float32)) for i in range(9)
    ]
    runs = []
    for _ in range(2):
        snaps = BestSnapshots(4)
        for score, step, params in offers:
            snaps.offer(score, step, params, {})
        runs.append(snaps.average()[0])
    np.testing.assert_array_equal(runs[0], runs[1])


def test_empty_average_and_bad_k_are_refused() -> None:
    with pytest.raises(ValueError, match="no snapshot"):
        BestSnapshots(2).average()
    for k in (0, -1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="k must be an integer >= 1"):
            BestSnapshots(k)
