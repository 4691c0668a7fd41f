"""A trained member that scores every row the same: training collapsed.

A learning rate far too high (Adam or SGD at 10 or 1e3 on standardised features) does not
always diverge: the weights stay finite while every ReLU of a layer dies or the output
saturates, and the member then gives every row one score. Nothing downstream saw it: its
validation AP is the fraud rate, a finite number; with no champion yet the gate promoted
it (session 46, probe46a). Like a diverged member (fraud_app.spark.engine_base
`check_finite`), such a member stops training with TrainingDivergedError before the
ensemble is built, naming the member and the settings to change.

Owns only the check. The rows it scores are the caller's: the input encoding's sample or
the collected validation rows. With neither (encoding none without validation rows) there
is no verdict: a sample of its own was a Spark job the estimator's fit did not have, and
rows drawn from the data pass's moments did not tell the model the data tells (lead46:
a member scoring 200 real rows as one spread 200 drawn rows by 1.0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlcore.losses import sigmoid
from fraud_app.errors import TrainingDivergedError

# logits within this share of their magnitude (at least 1) of each other are one score
# (a collapsed member's logits are the output bias exactly, or differ in the last bits;
# a member that learned anything spreads them by orders of magnitude more)
SPREAD_TOLERANCE = 1e-6


def require_varied_scores(
    member: int, model, rows: np.ndarray, settings: str, folded: Sequence[int] = ()
) -> None:
    """TrainingDivergedError when `model` gives every one of `rows` (feature vectors that
    differ) one score. settings: the learning-rate settings the member trained with, as
    the message should name them. folded: the features that held one value in the
    member's training data (their weights folded into the bias: they move no score), so
    rows that differ only in them cannot tell (review46b: a member whose every feature
    was constant was refused as collapsed, blaming the learning rate)."""
    X = np.asarray(rows, dtype=model.params.dtype)
    if len(X) < 2:
        return
    varied = np.ones(X.shape[1], dtype=bool)
    varied[list(folded)] = False
    if not np.ptp(X[:, varied], axis=0).any():
        return  # the rows do not differ where the member could tell them apart
    logits = model.predict(X).reshape(-1).astype(np.float64)
    spread = float(np.ptp(logits))
    if not spread <= SPREAD_TOLERANCE * max(1.0, float(np.abs(logits).max())):
        return
    score = float(sigmoid(logits[:1])[0])
    raise TrainingDivergedError(
        f"training collapsed: ensemble member {member} gives every one of {len(X)} sampled "
        f"rows the same score ({score:.6g}; logits within {spread:.2g}) although its "
        "weights are finite: it ranks nothing (its AP would be the fraud rate), so nothing was "
        f"saved. Lower the learning rate ({settings}) or clip the gradients "
        "(training.optimizer.clip_norm)"
    )


def lr_settings(optimizer, warm_start=None) -> str:
    """The learning-rate settings a member trained with (OptimizerSection; a warm-start
    refit's WarmStart scales them), as the message names them."""
    scale = (
        ""
        if warm_start is None
        else f" x refit.learning_rate_scale ({warm_start.learning_rate_scale})"
    )
    return f"training.optimizer.learning_rate ({optimizer.learning_rate}, {optimizer.type}){scale}"
