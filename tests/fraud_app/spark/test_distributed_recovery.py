"""Recovery and warm starts of distributed training through real Spark barrier stages on
local[2]: a killed worker recovered from the last committed group, a failure late in a
stage, a resume after a driver restart, and training that continues from a model's
weights. The data, model and single-process reference are test_distributed's."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.losses import BCEWithLogits
from dlcore.optimizers import SGD, Adam
from fraud_app.errors import TrainingError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.trainer import DistributedTrainer, FaultInjection
from tests.fraud_app.spark.test_distributed import _df, _model, _reference

pytestmark = pytest.mark.spark
# the runs below that start from _model() with SGD(0.1, momentum 0.9), 2 workers, batches
# of 32 in groups of 4 and 12 iterations (a fault, a checkpoint, a restart) end as the
# uninterrupted run without a checkpoint (test_failure_late_in_a_stage's rule)
UNINTERRUPTED = dict(num_workers=2, global_batch_size=32, iterations=12, epochs=None,
                     group_size=4)  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(spark):
    """That uninterrupted run: the reference of the killed worker's recovery and of the
    resume after a driver restart, trained once for both (was once per test, session 54)."""
    return DistributedTrainer(
        _model(), BCEWithLogits(), SGD(learning_rate=0.1, momentum=0.9),
        DistributedConfig(**UNINTERRUPTED),
    ).fit(_df(spark))  # fmt: skip


def test_killed_worker_is_recovered_from_checkpoint(spark, tmp_path, uninterrupted):
    df = _df(spark)
    clean = uninterrupted
    cfg2 = DistributedConfig(**UNINTERRUPTED, checkpoint_dir=str(tmp_path / "ckpt2"),
                             op_timeout_s=20)  # fmt: skip
    faulty = DistributedTrainer(
        _model(),
        BCEWithLogits(),
        SGD(learning_rate=0.1, momentum=0.9),
        cfg2,
        fault_injection=FaultInjection(rank=1, iteration=6),
    ).fit(df)
    assert faulty.retries == 1 and len(faulty.failures) == 1
    np.testing.assert_allclose(
        faulty.model.params.data, clean.model.params.data, rtol=1e-5, atol=1e-6
    )
    assert (tmp_path / "ckpt2" / "LATEST.json").is_file()


def _warm(seed=5):
    """A model whose weights are not its initialisation: _model() with _model(seed)'s weights
    (a warm-start refit hands the trainer the early-stopped members this way)."""
    model = _model()
    model.load_weights(_model(seed=seed).params.data * 1.5)
    return model


def test_training_starts_from_the_models_weights_with_a_cosine_decay(spark):
    """A warm start: the trainer continues from the weights the model holds (not from an
    initialisation), and lr_decay "cosine" decays the rate to 0 after the warm-up."""
    df = _df(spark)
    cfg = DistributedConfig(num_workers=2, global_batch_size=32, iterations=12, epochs=None,
                            group_size=4, warmup_iterations=3, lr_decay="cosine")  # fmt: skip
    start = _warm().params.data.copy()
    trainer = DistributedTrainer(_warm(), BCEWithLogits(), Adam(learning_rate=1e-2), cfg)
    lr = trainer._scaled_optimizer(12).learning_rate
    assert lr(0) == pytest.approx(1e-2) and lr(3) == pytest.approx(1e-2 * 32 / 256)
    assert lr(11) < lr(3) / 10 and lr(12) == 0.0
    result = trainer.fit(df)
    expected = _reference(spark, df, cfg, trainer._scaled_optimizer(12), 12, start=start)
    np.testing.assert_allclose(result.model.params.data, expected, rtol=1e-5, atol=1e-6)
    from_init = _reference(spark, df, cfg, trainer._scaled_optimizer(12), 12)
    assert np.abs(result.model.params.data - from_init).max() > 0.1


def test_a_warm_start_recovers_from_a_killed_worker_and_keeps_its_own_checkpoints(spark, tmp_path):
    """Recovery restores the last committed group's weights and optimizer state, so a
    killed worker does not change a warm start's result; a checkpoint written from OTHER
    starting weights is never resumed (the fingerprint holds the starting weights)."""
    df = _df(spark)
    cfg = DistributedConfig(num_workers=2, global_batch_size=32, iterations=12, epochs=None,
                            group_size=4, op_timeout_s=20, lr_decay="cosine")  # fmt: skip
    opt = lambda: Adam(learning_rate=1e-2)  # noqa: E731
    clean = DistributedTrainer(_warm(), BCEWithLogits(), opt(), cfg).fit(df)
    faulty = DistributedTrainer(
        _warm(), BCEWithLogits(), opt(),
        DistributedConfig(**{**cfg.__dict__, "checkpoint_dir": str(tmp_path / "a")}),
        fault_injection=FaultInjection(rank=1, iteration=6),
    ).fit(df)  # fmt: skip
    assert faulty.retries == 1
    np.testing.assert_allclose(
        faulty.model.params.data, clean.model.params.data, rtol=1e-5, atol=1e-6
    )
    other = DistributedConfig(**{**cfg.__dict__, "checkpoint_dir": str(tmp_path / "a")})
    with pytest.raises(TrainingError, match="checkpoint"):
        DistributedTrainer(_warm(seed=6), BCEWithLogits(), opt(), other).fit(df)


def test_failure_late_in_a_stage_keeps_its_committed_groups(spark, tmp_path):
    df = _df(spark)
    cfg = DistributedConfig(
        num_workers=2,
        global_batch_size=32,
        iterations=12,
        epochs=None,
        group_size=3,
        stage_groups=4,
        checkpoint_dir=str(tmp_path),
        op_timeout_s=20,
    )
    result = DistributedTrainer(
        _model(),
        BCEWithLogits(),
        SGD(learning_rate=0.1),
        cfg,
        fault_injection=FaultInjection(rank=0, iteration=10),
    ).fit(df)
    assert result.retries == 1
    # Groups 0-2 (iterations 0-9) were committed before rank 0 died in group 3; only group 3 ran again.
    assert [h["start_iteration"] for h in result.history] == [0, 3, 6, 9]
    assert [h["stage_start"] for h in result.history] == [True, False, False, True]
    clean = DistributedTrainer(
        _model(),
        BCEWithLogits(),
        SGD(learning_rate=0.1),
        DistributedConfig(**{**cfg.__dict__, "checkpoint_dir": None}),
    ).fit(df)
    np.testing.assert_allclose(
        result.model.params.data, clean.model.params.data, rtol=1e-5, atol=1e-6
    )


def test_resume_after_driver_restart(spark, tmp_path, uninterrupted):
    df = _df(spark)
    common = dict(
        num_workers=2, global_batch_size=32, epochs=None, group_size=4, checkpoint_dir=str(tmp_path)
    )
    full = uninterrupted  # the same run, 12 iterations without a checkpoint
    # "Driver 1" stops after 8 iterations; "driver 2" (fresh objects) continues from the checkpoint.
    first = DistributedTrainer(
        _model(),
        BCEWithLogits(),
        SGD(learning_rate=0.1, momentum=0.9),
        DistributedConfig(**common, iterations=8),
    ).fit(df)
    resumed = DistributedTrainer(
        _model(),
        BCEWithLogits(),
        SGD(learning_rate=0.1, momentum=0.9),
        DistributedConfig(**common, iterations=12),
    ).fit(df)
    assert resumed.history[-1]["end_iteration"] == 12 and len(resumed.history) == 3
    # The exact resume point: the committed groups come back from the checkpoint as they
    # were (same wall times), and training restarts at group 2, iteration 8, not earlier.
    assert resumed.history[:2] == first.history
    assert [(h["group"], h["start_iteration"]) for h in resumed.history] == [(0, 0), (1, 4), (2, 8)]
    assert resumed.history[2]["stage_start"]
    np.testing.assert_allclose(
        resumed.model.params.data, full.model.params.data, rtol=1e-5, atol=1e-6
    )
