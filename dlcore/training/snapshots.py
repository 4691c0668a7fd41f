"""BestSnapshots: the k best-scoring weight snapshots of a run and their average.

Averaging the weights of several points of one training trajectory (Izmailov et al. 2018,
"Averaging Weights Leads to Wider Optima and Better Generalization"; checkpoint averaging)
lands in a flatter region than any one of them. Here the points are the k evaluations with
the highest validation score, so with early stopping the average replaces "restore the
best weights" (k = 1 is exactly that).

Owns: the kept copies and the average. Deterministic: the same offers give the same bits
(ties in score go to the earlier snapshot; the mean is summed in float64 in rank order and
cast back to the weights' dtype). Non-trainable layer state (a standardisation's moments,
an encoding's bins, BatchNorm running statistics) is the BEST snapshot's, not averaged:
for the layers it belongs to it does not change during training, except BatchNorm's
running statistics, which are those of the best snapshot (SWA's recomputation of them on
the training data is not done).
"""

from __future__ import annotations

import math

import numpy as np

from dlcore.errors import ConfigError


class BestSnapshots:
    def __init__(self, k: int) -> None:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"BestSnapshots: k must be an integer >= 1. Received: {k!r}")
        self.k = int(k)
        self._kept: list[tuple[float, int, np.ndarray, dict[str, np.ndarray]]] = []

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def steps(self) -> list[int]:
        """The kept snapshots' steps (iterations), best first."""
        return [step for _, step, _, _ in self._kept]

    def offer(
        self, score: float, step: int, params: np.ndarray, state: dict[str, np.ndarray]
    ) -> bool:
        """Keep a copy of these weights if `score` is among the k best so far (a NaN score
        never is); returns whether it was kept."""
        if not math.isfinite(score):
            return False
        if len(self._kept) == self.k and score <= self._kept[-1][0]:
            return False
        entry = (float(score), int(step), params.copy(), {k: v.copy() for k, v in state.items()})
        self._kept.append(entry)
        self._kept.sort(key=lambda e: (-e[0], e[1]))  # best first; equal scores: earlier first
        del self._kept[self.k :]
        return True

    def entries(self) -> list[tuple[float, int, np.ndarray, dict[str, np.ndarray]]]:
        """The kept (score, step, params, state), best first (what a checkpoint saves)."""
        return list(self._kept)

    def restore(self, entries: list[tuple[float, int, np.ndarray, dict[str, np.ndarray]]]) -> None:
        """Keep exactly `entries` (from `entries()`, e.g. read back from a checkpoint)."""
        kept = [(float(s), int(t), p.copy(), {k: v.copy() for k, v in st.items()})
                for s, t, p, st in entries]  # fmt: skip
        kept.sort(key=lambda e: (-e[0], e[1]))
        self._kept = kept[: self.k]

    def average(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(the mean of the kept parameter vectors, the best snapshot's layer state)."""
        if not self._kept:
            raise ValueError("BestSnapshots.average: no snapshot was offered a finite score")
        first = self._kept[0][2]
        total = np.zeros(first.shape, np.float64)
        for _, _, params, _ in self._kept:
            total += params
        total /= len(self._kept)
        return total.astype(first.dtype), {k: v.copy() for k, v in self._kept[0][3].items()}
