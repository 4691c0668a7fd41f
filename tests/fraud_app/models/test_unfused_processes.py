"""An ensemble the fused plan does not take scores the same rows to the same bits in
every process (review50l). On c444cc9b its float64 twins' plain predict put the output
layer's (n, k) @ (k, 1) product through OpenBLAS's GEMV, whose last bit moved from one
process to the next (about 1 process in 3 here, with or without a change in the
environment's size): a server and a batch job could disagree. Self-contained (no helper
of tests/dlcore), so it runs against the base too."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PROCESSES = 10

SCRIPT = textwrap.dedent("""
    import hashlib, sys
    import numpy as np
    from dlcore.layers import BatchNorm1d, FeatureEmbedding, Linear, ReLU, Sequential
    from dlcore.model import Model
    from fraud_app.models.ensemble import FraudEnsemble

    D = 6

    def member(seed):
        layers = [FeatureEmbedding([0, 3], [5, 7], 3), Linear(12), BatchNorm1d(), ReLU()]
        model = Model(Sequential([*layers, Linear(3), ReLU(), Linear(1)]), in_features=D,
                      seed=seed)
        rng = np.random.default_rng(seed)
        model.params.data[...] = rng.normal(0.0, 0.6, model.params.size)
        state = {}
        for key, value in model.layer.state().items():
            low, high = (0.5, 2.0) if key.endswith("running_var") else (-1.0, 1.0)
            state[key] = rng.uniform(low, high, value.shape).astype(value.dtype)
        model.layer.load_state(state)
        return model

    rng = np.random.default_rng(3)
    X = rng.normal(0.0, 2.0, (1500, D)).astype(np.float32)
    X[:, 0] = rng.integers(0, 5, len(X))
    X[:, 3] = rng.integers(0, 7, len(X))
    ensemble = FraudEnsemble([member(k) for k in range(2)], [f"f{i}" for i in range(D)], {})
    assert ensemble.fused() is None
    print(hashlib.sha256(ensemble.predict_proba(X).tobytes()).hexdigest())
""")


def test_processes_score_an_unfused_ensemble_to_one_hash():
    hashes = []
    for i in range(PROCESSES):
        # environments of several sizes (0 to 3,500 bytes more), as in review49d's finding
        env = {**os.environ, "PYTHONPATH": str(REPO), "REVIEW50L_PAD": "x" * (i * 389)}
        proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                              text=True, timeout=120, cwd=REPO)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        hashes.append(proc.stdout.strip())
    assert len(set(hashes)) == 1, f"{len(set(hashes))} different score hashes: {hashes}"
    assert len(hashes[0]) == 64  # a sha256, not an empty line
