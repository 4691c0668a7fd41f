"""A member whose training collapsed (every row scored the same: a learning rate far too
high leaves every ReLU dead or the output saturated, with finite weights) stops training
with an error naming the member and the settings, like a diverged one (session 46,
probe46a). Before, `lars` at 1e3 or `sgd` at 10 with clip_norm 1 returned an ensemble
whose every score was one number (validation AP = the fraud rate), for `train` to save."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_app.errors import TrainingDivergedError
from fraud_app.models.config import (
    DistributedSection,
    ModelSection,
    OptimizerSection,
    TrainingSection,
)
from fraud_app.models.train import EncodingRows, TrainingInputs, feature_statistics, train_ensemble

pytestmark = pytest.mark.spark

D = 4


def _rows(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D))
    y = (rng.random(n) < 0.2).astype(float)
    X[y == 1, 0] += 2.0
    return [(X[i].astype(np.float32).tolist(), float(y[i])) for i in range(n)]


def _cfg(encoding: str, opt: str, lr: float, clip_norm: float | None = None) -> TrainingSection:
    return TrainingSection(
        model=ModelSection(encoding=encoding),  # (128, 64), relu, dropout 0.1
        optimizer=OptimizerSection(type=opt, learning_rate=lr, clip_norm=clip_norm),
        distributed=DistributedSection(
            num_workers=1, global_batch_size=64, iterations=100, epochs=None,
            scale_lr=False, early_stopping=None,
        ),
    )  # fmt: skip


@pytest.fixture(scope="module")
def window(spark):
    schema = "features array<float>, label double"
    subsets = [spark.createDataFrame(_rows(200, s), schema) for s in (1, 2)]
    return subsets, subsets[0].unionByName(subsets[1])


# measured on the base: both give every row one logit (a spread of 0.0)
@pytest.mark.parametrize(
    ("encoding", "opt", "lr", "clip"),
    [("piecewise_linear", "lars", 1e3, None), ("none", "sgd", 10.0, 1.0)],
)
def test_a_member_that_scores_every_row_the_same_stops_training(window, encoding, opt, lr, clip):
    subsets, union = window
    inputs = TrainingInputs(["a", "b", "c", "d"], feature_statistics(union),
                            encoding=EncodingRows(union) if encoding != "none" else None)  # fmt: skip
    with pytest.raises(TrainingDivergedError) as info:
        train_ensemble(subsets, _cfg(encoding, opt, lr, clip), inputs)
    message = str(info.value)
    assert message.startswith("training collapsed: ensemble member 0 gives every one of ")
    assert f"training.optimizer.learning_rate ({lr}, {opt})" in message
    assert "nothing was saved" in message


def test_a_member_that_learned_passes(window):
    subsets, union = window
    inputs = TrainingInputs(["a", "b", "c", "d"], feature_statistics(union))
    ens = train_ensemble(subsets, _cfg("none", "adam", 1e-2), inputs)
    X = np.array([r[0] for r in _rows(300, 9)], dtype=np.float32)
    assert np.ptp(ens.ensemble.predict_proba(X)) > 0.05
