"""Resuming a distributed run from its checkpoints (real local[2] Spark barrier stages).

A resumed run must end as the uninterrupted run does, or be refused naming what differs:

- the early stopper's state (records, best score, iteration and weights, patience count,
  whether it stopped) is in the checkpoint: it was tracked again from the resumed
  iteration, so a finished member resumed with best_iteration None and its LAST weights
  (which also turned the refit off), and a member killed mid-run lost its best weights;
- mixup and gradient compression, the stopper's settings and validation rows are part of
  the setup (a resume with another mixup_alpha continued the run without a word);
- a checkpoint past the run's last iteration (epochs lowered) is refused (it returned the
  longer-trained model without a word);
- one run per checkpoint directory, and a directory that cannot be written is named
  before any group trains.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from dlcore.layers import Linear, ReLU, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import Adam
from fraud_app.errors import ConcurrentRunError, EnvironmentSetupError, TrainingError
from fraud_app.spark.checkpoint import ForeignCheckpointError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.early_stopping import EarlyStoppingConfig
from fraud_app.spark.trainer import DistributedTrainer
from tests.processes import held_in_child

pytestmark = pytest.mark.spark
D = 6


def _df(spark, n=240, seed=0, flip=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(n) > 0.5).astype(np.float32)
    y = 1 - y if flip else y
    rows = [(X[i].tolist(), float(y[i])) for i in range(n)]
    return spark.createDataFrame(rows, "features array<float>, label double").repartition(2)


def _fit(df, val, **cfg):
    base = dict(num_workers=2, global_batch_size=32, epochs=None, iterations=40, group_size=2,
                warmup_iterations=2)  # fmt: skip
    model = Model(Sequential([Linear(8), ReLU(), Linear(1)]), in_features=D, seed=1)
    trainer = DistributedTrainer(model, BCEWithLogits(), Adam(learning_rate=3e-2),
                                 DistributedConfig(**{**base, **cfg}))  # fmt: skip
    return trainer.fit(df, validation_df=val)


def _assert_same_run(resumed, clean) -> None:
    assert [r["iteration"] for r in resumed.validation] == [
        r["iteration"] for r in clean.validation
    ]
    np.testing.assert_allclose([r["average_precision"] for r in resumed.validation],
                               [r["average_precision"] for r in clean.validation], rtol=1e-6)  # fmt: skip
    assert resumed.best_iteration == clean.best_iteration
    assert resumed.stopped_early == clean.stopped_early
    np.testing.assert_allclose(
        resumed.model.params.data, clean.model.params.data, rtol=1e-5, atol=1e-6
    )


def test_a_resumed_run_ends_as_the_uninterrupted_one_with_early_stopping(spark, tmp_path, caplog):
    """The validation labels contradict the training data, so AP falls and the run stops
    early with its best weights. Resumed mid-run (the newest checkpoint lost, as a kill
    after the group before it leaves it) and resumed once finished (a later member of the
    ensemble was killed), it ends with the same records, best iteration and weights."""
    df, val = _df(spark), _df(spark, n=120, seed=5, flip=True)
    es = EarlyStoppingConfig(patience=2, every_epochs=0.5, average_best=2)
    clean = _fit(df, val, early_stopping=es)
    assert clean.stopped_early and clean.best_iteration < clean.iterations
    ckpt = tmp_path / "ckpt"
    first = _fit(df, val, early_stopping=es, checkpoint_dir=str(ckpt))
    _assert_same_run(first, clean)
    # finished, then resumed: nothing left to train, the stopper's result comes back
    _assert_same_run(_fit(df, val, early_stopping=es, checkpoint_dir=str(ckpt)), clean)
    # the newest group's checkpoint gone: resumed from the one before it (mid-run)
    newest = max(Path(ckpt).glob("group-*"))
    shutil.rmtree(newest)
    with caplog.at_level(logging.WARNING, logger="fraud_app.spark.checkpoint"):
        resumed = _fit(df, val, early_stopping=es, checkpoint_dir=str(ckpt))
    assert "resuming from the newest intact checkpoint" in caplog.text
    assert resumed.history[-1]["end_iteration"] == clean.iterations
    _assert_same_run(resumed, clean)


def test_a_resume_with_another_setting_or_fewer_iterations_is_refused(spark, tmp_path):
    """mixup_alpha, compression and the validation rows are part of the setup; a checkpoint
    past this run's last iteration is refused, each naming what differs."""
    df = _df(spark)
    ckpt = str(tmp_path / "a")
    _fit(df, None, iterations=8, checkpoint_dir=ckpt)
    with pytest.raises(ForeignCheckpointError, match=r"mixup_alpha: 0\.0 then, 0\.4 now"):
        _fit(df, None, iterations=12, mixup_alpha=0.4, checkpoint_dir=ckpt)
    with pytest.raises(ForeignCheckpointError, match=r"compression: None then, 'bf16' now"):
        _fit(df, None, iterations=12, compression="bf16", checkpoint_dir=ckpt)
    with pytest.raises(TrainingError, match=r"at iteration 8, past this run's 4 iterations"):
        _fit(df, None, iterations=4, checkpoint_dir=ckpt)
    monitored = str(tmp_path / "b")
    _fit(df, _df(spark, n=120, seed=5), iterations=8, checkpoint_dir=monitored)
    with pytest.raises(ForeignCheckpointError, match=r"early stopping \(its settings or the "):
        _fit(df, _df(spark, n=120, seed=6), iterations=12, checkpoint_dir=monitored)


def test_a_checkpoint_directory_in_use_or_not_writable_is_refused_before_training(spark, tmp_path):
    """One run per checkpoint directory (a second process pruned and overwrote the first
    one's groups); a directory that cannot be created failed only after the first group
    trained, with the OSError of the first save."""
    df = _df(spark)
    ckpt = tmp_path / "ckpt"
    lock = (f"from fraud_app.etl.lock import RootLock\n"
            f"RootLock({str(ckpt)!r}, 'distributed training', '.training.lock')")  # fmt: skip
    with held_in_child(lock) as proc:
        with pytest.raises(ConcurrentRunError, match=rf"writing to {ckpt}: distributed "
                                                     rf"training \(pid {proc.pid}"):  # fmt: skip
            _fit(df, None, iterations=4, checkpoint_dir=str(ckpt))
        assert not list(ckpt.glob("group-*"))
    assert _fit(df, None, iterations=4, checkpoint_dir=str(ckpt)).iterations == 4
    assert not (ckpt / ".training.lock").exists()  # released at the end
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(EnvironmentSetupError, match=r"the checkpoint directory \(paths\."):
        _fit(df, None, iterations=4, checkpoint_dir=str(blocker / "ckpt"))


def test_a_resume_with_another_group_size_under_every_groups_is_refused(spark, tmp_path):
    """With `every_groups` the stopper evaluates at group boundaries, so the group size is
    part of its setup: a run resumed with another `group_size` evaluated at other
    iterations from the resume on (a schedule neither run had) without a word."""
    df, val = _df(spark), _df(spark, n=120, seed=5)
    es = EarlyStoppingConfig(patience=50, every_epochs=None, every_groups=2)
    ckpt = str(tmp_path / "ckpt")
    _fit(df, val, iterations=8, group_size=2, early_stopping=es, checkpoint_dir=ckpt)
    with pytest.raises(ForeignCheckpointError, match=r"early_stopping\.group_size 2 then, 3 now"):
        _fit(df, val, iterations=12, group_size=3, early_stopping=es, checkpoint_dir=ckpt)
