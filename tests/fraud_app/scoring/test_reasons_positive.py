"""reason_1..3 name only features that pushed the score up (session 36 probe, docs/PROBES.md).

Before, every scored row named `scoring.reasons` features, also those whose attribution
was 0 or negative: a row at the training mean named the first three features, and a
feature that lowered the score was given as a reason for the alert.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import ScoringOptions, _reason_arrays, score_arrow_column
from tests.dlcore.test_attribution_encoded import BASELINE, _member

NAMES = ["card_count_24h", "is_cross_border", "amount_z"]


def _linear_ensemble() -> FraudEnsemble:
    """Two members linear in the ramps (test_reasons_encoded's): the count's ramps raise
    the logit by 1.0 each, the flag's one ramp by 0.5, the continuous feature's by 0.2."""
    members = []
    for seed in (0, 1):
        m = _member(seed, dtype="float32", hidden=2)
        first, _, out = m.layer.layers[2:]
        first.W[...] = 0.0
        first.W[3:7, 0] = 1.0
        first.W[7, 0] = 0.5
        first.W[11:15, 0] = 0.2
        first.b[...] = [10.0, 0.0]
        out.W[...] = [[1.0], [0.0]]
        out.b[...] = -13.0
        members.append(m)
    return FraudEnsemble(members, NAMES, {})


def _reasons(ens: FraudEnsemble, rows) -> list[list[str | None]]:
    column = pa.array(rows, pa.list_(pa.float32()))
    cols = score_arrow_column(column, ens, ScoringOptions(reasons=3), baseline=BASELINE)
    return [list(r) for r in zip(*(c.to_pylist() for c in cols[1:]), strict=True)]


def test_only_features_that_pushed_the_score_up_are_reasons():
    ens = _linear_ensemble()
    assert ens.fused() is not None
    rows = [
        [2.0, 0.1, 0.0],  # the training mean: nothing moved the score
        [6.0, 0.0, 0.3],  # the count and the amount up, the flag (0 < its mean 0.1) down
        [0.0, 1.0, -1.0],  # the flag up; the count and the amount down
        [2.0, 0.1, 1.5],  # only the amount
    ]
    expected = [
        [None, None, None],
        ["card_count_24h", "amount_z", None],
        ["is_cross_border", None, None],
        ["amount_z", None, None],
    ]
    assert _reasons(ens, rows) == expected
    # the float64 layers (the path of members the fused plan cannot score) agree
    ens._fused = None
    assert _reasons(ens, rows) == expected


def test_equal_attributions_keep_the_feature_order_and_non_positive_ones_are_null():
    attr = np.array([[0.2, 0.2, -0.1], [0.0, 0.0, 0.0], [0.1, 0.3, 0.3], [-0.0, 1e-300, -1.0]])
    good = np.array([True, True, True, True, False])  # the last row: an invalid row
    cols = _reason_arrays(attr, good, NAMES, 3)
    got = [list(r) for r in zip(*(c.to_pylist() for c in cols), strict=True)]
    assert got == [
        ["card_count_24h", "is_cross_border", None],
        [None, None, None],
        ["is_cross_border", "amount_z", "card_count_24h"],
        ["is_cross_border", None, None],
        [None, None, None],
    ]
