"""The scorer's reason_1..3 of a model with the default piecewise-linear input encoding
(session 35 probe, docs/PROBES.md; the attribution's own checks: tests/dlcore/
test_attribution_encoded.py)."""

from __future__ import annotations

import pyarrow as pa

from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import ScoringOptions, score_arrow_column
from tests.dlcore.test_attribution_encoded import BASELINE, D, _member


def test_the_scorers_first_reason_is_the_count_far_above_its_mean():
    # the scorer's reason_1..3 (fraud_app.scoring.batch, the fused float32 plan): a member
    # linear in the ramps, every z weight 0. The count 6 (z 2, its ramps 1, 1, 1, 1 against
    # the mean's 1, 1, 0, 0) raises the logit by 2 x 1.0; the continuous 0.3 by 0.3 x 0.2;
    # the flag 0 lowers it by 0.1 x 0.5. The gradient in z gave the count 0 (every ramp
    # saturated), so reason_1 was the continuous feature.
    members = []
    for seed in (0, 1):
        m = _member(seed, dtype="float32", hidden=2)
        first, _, out = m.layer.layers[2:]
        first.W[...] = 0.0
        first.W[D : D + 4, 0] = 1.0  # the count's 4 ramps
        first.W[D + 4, 0] = 0.5  # the flag's one used ramp
        first.W[D + 8 : D + 12, 0] = 0.2  # the continuous feature's ramps
        first.b[...] = [10.0, 0.0]  # unit 0 always active: the member is linear in the ramps
        out.W[...] = [[1.0], [0.0]]
        out.b[...] = -13.0
        members.append(m)
    names = ["card_count_24h", "is_cross_border", "amount_z"]
    ens = FraudEnsemble(members, names, {})
    assert ens.fused() is not None
    rows = pa.array([[6.0, 0.0, 0.3], [2.0, 1.0, 0.0]], pa.list_(pa.float32()))
    _, r1, r2, r3 = score_arrow_column(rows, ens, ScoringOptions(reasons=3), baseline=BASELINE)
    # the flag lowered the score: not a reason (session 36: it was reason_3)
    assert [r1[0].as_py(), r2[0].as_py(), r3[0].as_py()] == [*names[::2], None]
    assert r1[1].as_py() == "is_cross_border"  # the flag on its edge at 1: its ramp counts
