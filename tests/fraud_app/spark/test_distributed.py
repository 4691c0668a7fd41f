"""Distributed training through real Spark barrier stages on local[2]."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest

from dlcore.layers import (
    Dropout,
    GaussianNoise,
    Linear,
    PiecewiseLinear,
    ReLU,
    Sequential,
    Standardize,
)
from dlcore.layers.piecewise_linear import quantile_edges
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import SGD, Adam
from dlcore.optimizers.base import ShardContext, optimizer_from_config, optimizer_to_config
from fraud_app.errors import TrainingError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.cursor import DataCursor
from fraud_app.spark.data import decode_blocks, to_training_blocks
from fraud_app.spark.trainer import DistributedTrainer

pytestmark = pytest.mark.spark
D = 6


def _df(spark, n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(n) > 0.5).astype(float)
    rows = [(X[i].tolist(), float(y[i])) for i in range(n)]
    return spark.createDataFrame(rows, "features array<float>, label double").repartition(3)


def _model(seed=1, dropout=0.0, noise=0.0):
    layers = [*([GaussianNoise(noise)] if noise else []), Linear(8), ReLU()]
    layers += [*([Dropout(dropout)] if dropout else []), Linear(1)]
    return Model(Sequential(layers), in_features=D, seed=seed)


def _reference(
    spark, df, cfg: DistributedConfig, optimizer, iterations: int, start=None
) -> np.ndarray:
    """Single-process training on the global batches the workers build (rank order), from
    _model()'s initial weights or from `start` (a flat weight vector)."""
    blocks = to_training_blocks(
        df, features_col="features", label_col="label", weight_col=None, num_workers=cfg.num_workers
    )
    parts = dict(blocks.mapPartitionsWithIndex(lambda i, it: [(i, decode_blocks(it))]).collect())
    blocks.unpersist()
    cursors = [
        DataCursor(parts[r], seed=cfg.seed, rank=r, shuffle=cfg.shuffle)
        for r in range(cfg.num_workers)
    ]
    model, loss = _model(), BCEWithLogits()
    if start is not None:
        model.load_weights(start)
    state = optimizer.init_state(model.params.size)
    shard = ShardContext.for_params(model.params)
    for _ in range(iterations):
        batches = [c.next_batch(cfg.local_batch_size) for c in cursors]
        X = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        logits, backprop = model.forward(X, training=True)
        _, dlogits = loss(logits, y, denominator=cfg.global_batch_size)
        backprop(dlogits)
        optimizer.step(model.params.data, model.params.grad, state, shard)
    return model.params.data.copy()


def _scaled(trainer: DistributedTrainer):
    return optimizer_from_config(optimizer_to_config(trainer._scaled_optimizer()))


@pytest.mark.parametrize(
    "make_opt", [lambda: SGD(learning_rate=0.1, momentum=0.9), lambda: Adam(learning_rate=1e-2)]
)
def test_two_workers_match_single_process(spark, make_opt):
    df = _df(spark)
    cfg = DistributedConfig(
        num_workers=2,
        global_batch_size=32,
        iterations=12,
        epochs=None,
        group_size=4,
        warmup_iterations=5,
    )
    trainer = DistributedTrainer(_model(), BCEWithLogits(), make_opt(), cfg)
    result = trainer.fit(df)
    expected = _reference(spark, df, cfg, _scaled(trainer), 12)
    np.testing.assert_allclose(result.model.params.data, expected, rtol=1e-5, atol=1e-6)
    assert result.iterations == 12 and len(result.history) == 3
    assert all(h["loss"] > 0 for h in result.history)


def test_grouped_and_per_iteration_engines_agree(spark):
    df = _df(spark)
    base = dict(num_workers=2, global_batch_size=32, iterations=6, epochs=None, group_size=3)
    a = DistributedTrainer(
        _model(dropout=0.3), BCEWithLogits(), SGD(learning_rate=0.1), DistributedConfig(**base)
    ).fit(df)
    b = DistributedTrainer(
        _model(dropout=0.3),
        BCEWithLogits(),
        SGD(learning_rate=0.1),
        DistributedConfig(**base, engine="per_iteration"),
    ).fit(df)
    np.testing.assert_allclose(a.model.params.data, b.model.params.data, rtol=1e-5, atol=1e-6)


def test_groups_per_stage_do_not_change_the_result(spark):
    """One Spark job per group and all groups in one job train the same weights, group by group
    (with dropout: masks depend on seed, rank and iteration only)."""
    df = _df(spark)
    base = dict(num_workers=2, global_batch_size=32, iterations=10, epochs=None, group_size=3)
    runs = [
        DistributedTrainer(_model(dropout=0.3), BCEWithLogits(), Adam(learning_rate=1e-2),
                           DistributedConfig(**base, stage_groups=k)).fit(df)
        for k in (1, 10)
    ]  # fmt: skip
    np.testing.assert_allclose(
        runs[0].model.params.data, runs[1].model.params.data, rtol=1e-5, atol=1e-6
    )
    for run, stage_starts in zip(runs, ([True] * 4, [True, False, False, False]), strict=True):
        assert [h["end_iteration"] for h in run.history] == [3, 6, 9, 10]
        assert [h["stage_start"] for h in run.history] == stage_starts
    np.testing.assert_allclose(
        [h["loss"] for h in runs[0].history], [h["loss"] for h in runs[1].history], rtol=1e-5
    )


def test_feature_width_mismatch_is_a_clear_error(spark):
    df = _df(spark)
    model = Model(Sequential([Linear(1)]), in_features=D + 1)
    cfg = DistributedConfig(num_workers=2, global_batch_size=8, iterations=1, epochs=None)
    with pytest.raises(
        TrainingError, match=f"feature vectors have {D} values but the model expects {D + 1}"
    ):
        DistributedTrainer(model, BCEWithLogits(), SGD(learning_rate=0.1), cfg).fit(df)


def test_more_workers_than_rows_is_a_clear_error(spark):
    from fraud_app.errors import EmptyInputError

    df = spark.createDataFrame([([1.0] * D, 1.0)], "features array<float>, label double")
    cfg = DistributedConfig(num_workers=2, global_batch_size=2, iterations=1, epochs=None)
    with pytest.raises(
        EmptyInputError, match=r"worker partition\(s\) \[\d\] of 2 received no rows"
    ):
        DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.1), cfg).fit(df)


def test_stages_run_in_the_callers_job_group(spark):
    """A notebook user can still cancel or track training through their own job group."""
    sc = spark.sparkContext
    df = _df(spark)
    sc.setJobGroup("user-training", "a notebook's training run")
    try:
        before = set(sc.statusTracker().getJobIdsForGroup("user-training"))
        cfg = DistributedConfig(
            num_workers=2,
            global_batch_size=32,
            iterations=4,
            epochs=None,
            group_size=1,
            stage_groups=2,
        )
        DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.1), cfg).fit(df)
        jobs = set(sc.statusTracker().getJobIdsForGroup("user-training")) - before
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    # the status tracker hears of a job's end through Spark's asynchronous listener bus: a
    # loaded machine may still show a finished job RUNNING for a moment
    deadline = time.monotonic() + 60
    while True:
        stages = [sc.statusTracker().getJobInfo(j) for j in jobs]
        if all(i.status != "RUNNING" for i in stages) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # 3 data-preparation jobs (the rows partitioned by content, then dealt to the workers:
    # two shuffles; the summary) + 2 barrier stages (2 groups each), all in the caller's group
    assert len(stages) == 5 and all(info.status == "SUCCEEDED" for info in stages)


def _adam_dropout(spark, group_size: int):
    """_model(dropout=0.3) trained with Adam(1e-2), 2 workers, 9 iterations of 32 rows."""
    cfg = DistributedConfig(num_workers=2, global_batch_size=32, iterations=9, epochs=None,
                            group_size=group_size)  # fmt: skip
    return DistributedTrainer(_model(dropout=0.3), BCEWithLogits(), Adam(learning_rate=1e-2),
                              cfg).fit(_df(spark))  # fmt: skip


@pytest.fixture(scope="module")
def adam_dropout_2(spark):
    """_adam_dropout in groups of 2, trained once for the two tests that read it (session 54:
    the noise test's run without noise is this run)."""
    return _adam_dropout(spark, 2)


def test_group_size_does_not_change_the_result(spark, adam_dropout_2):
    """Auto group sizes follow measured timings: the weights must not depend on them."""
    a, b = adam_dropout_2, _adam_dropout(spark, 5)
    np.testing.assert_allclose(a.model.params.data, b.model.params.data, rtol=1e-5, atol=1e-6)


def test_input_noise_is_deterministic_for_a_seed_and_independent_of_groups(spark, adam_dropout_2):
    """Noise of (seed, rank, iteration): a rerun and another group size give the same
    weights; another seed or no noise (`adam_dropout_2`: the same run as fit(2, noise=0.0))
    gives other weights."""
    df = _df(spark)
    base = dict(num_workers=2, global_batch_size=32, iterations=9, epochs=None)

    def fit(group_size, seed=0, noise=0.5):
        cfg = DistributedConfig(**base, group_size=group_size, seed=seed)
        model = _model(dropout=0.3, noise=noise)
        return DistributedTrainer(model, BCEWithLogits(), Adam(learning_rate=1e-2), cfg).fit(df)

    a, b, again = fit(2), fit(5), fit(2)
    np.testing.assert_allclose(a.model.params.data, b.model.params.data, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.model.params.data, again.model.params.data)
    for other in (fit(2, seed=1), adam_dropout_2):
        assert np.abs(other.model.params.data - a.model.params.data).max() > 1e-4


def test_mixup_is_deterministic_and_the_engines_agree(spark):
    """Mixes of (seed, rank, iteration): another group size and the per-iteration engine give
    the same weights; without mixup the weights differ."""
    df = _df(spark)
    base = dict(num_workers=2, global_batch_size=32, iterations=9, epochs=None)

    def fit(mixup_alpha=0.4, **kw):
        cfg = DistributedConfig(**{**base, "group_size": 2, **kw}, mixup_alpha=mixup_alpha)
        return DistributedTrainer(_model(), BCEWithLogits(), Adam(learning_rate=1e-2), cfg).fit(df)

    a, b, c = fit(), fit(group_size=5), fit(engine="per_iteration")
    np.testing.assert_allclose(a.model.params.data, b.model.params.data, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.model.params.data, c.model.params.data, rtol=1e-4, atol=1e-5)
    plain = fit(mixup_alpha=0.0)
    assert np.abs(plain.model.params.data - a.model.params.data).max() > 1e-4


def test_a_stage_whose_tasks_do_not_start_in_time_fails_with_the_reason(spark):
    """Another job holds a task slot: the 2-task barrier stage cannot start, and must not wait forever."""
    import time as _time

    from pyspark import InheritableThread

    df = _df(spark)
    sc = spark.sparkContext

    def hold_one_slot():
        sc.setJobGroup("slot-holder", "holds one of local[2]'s slots", True)
        with contextlib.suppress(Exception):  # cancelled below
            sc.parallelize([0], 1).foreach(lambda _: _time.sleep(60))

    blocker = InheritableThread(target=hold_one_slot, daemon=True)
    blocker.start()
    _time.sleep(1.0)
    cfg = DistributedConfig(
        num_workers=2,
        global_batch_size=32,
        iterations=2,
        epochs=None,
        stage_start_timeout_s=1.5,
        max_retries=0,
    )
    try:
        with pytest.raises(
            TrainingError, match=r"did not start within stage_start_timeout_s=1.5 s"
        ):
            DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.1), cfg).fit(df)
    finally:
        sc.cancelJobGroup("slot-holder")
        blocker.join(timeout=30)
    assert not blocker.is_alive()
    # the cancelled stage is gone: the next fit on the same session trains normally
    ok = DistributedTrainer(
        _model(),
        BCEWithLogits(),
        SGD(learning_rate=0.1),
        DistributedConfig(**{**cfg.__dict__, "stage_start_timeout_s": 600}),
    ).fit(df)
    assert ok.iterations == 2


def _worker_backends(spark) -> set:
    """The dlcore backend each reused Python worker holds (None: not chosen there yet)."""

    def probe(_):
        import dlcore.backends as backends

        current = backends._CURRENT
        yield None if current is None else current.name

    return set(spark.sparkContext.parallelize(range(4), 4).mapPartitions(probe).collect())


@pytest.mark.parametrize("engine", ["grouped", "per_iteration"])
def test_workers_compute_with_the_drivers_backend(spark, engine):
    """Each worker would otherwise time the backends itself, and on a loaded machine one of
    them can pick the other BLAS library (different rounding: the same seed, other weights)."""
    from dlcore.backends import available_backends, get_ops, set_ops

    if "mkl" not in available_backends():
        pytest.skip("needs two backends (MKL is not loadable here)")
    df = _df(spark)
    before = get_ops()
    try:
        for name in ("numpy", "mkl", "numpy"):
            set_ops(name)
            cfg = DistributedConfig(
                num_workers=2,
                global_batch_size=32,
                iterations=4,
                epochs=None,
                group_size=2,
                engine=engine,
            )
            DistributedTrainer(_model(), BCEWithLogits(), SGD(learning_rate=0.1), cfg).fit(df)
            seen = _worker_backends(spark) - {None}
            assert seen == {name}
    finally:
        set_ops(before)


def test_encoded_rows_train_the_same_weights_as_the_whole_model(spark):
    """The workers encode their rows once (standardisation + piecewise-linear encoding,
    dlcore.fixed_input.EncodedRows) and run only the layers after them: the weights equal,
    bit for bit, those of every batch going through the whole model (limit 0)."""
    df = _df(spark)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, D)).astype(np.float32)

    def encoded_model():
        layers = [Standardize(clip=3.0), PiecewiseLinear(4), Linear(8), ReLU(), Dropout(0.3),
                  Linear(1)]  # fmt: skip
        model = Model(Sequential(layers), in_features=D, seed=1)
        model.layer.layers[0].set_statistics(X.mean(0) + 0.1, X.std(0) * 0.8)
        z, _ = model.layer.layers[0].forward(X, False)
        model.layer.layers[1].set_edges(*quantile_edges(z, 4))
        return model

    def fit(limit):  # 4 groups in 2 stages: the second stage finds the rows encoded
        cfg = DistributedConfig(num_workers=2, global_batch_size=32, iterations=12, epochs=None,
                                group_size=3, stage_groups=2, encoded_rows_max_bytes=limit)  # fmt: skip
        return DistributedTrainer(encoded_model(), BCEWithLogits(), Adam(learning_rate=1e-2),
                                  cfg).fit(df)  # fmt: skip

    whole, encoded = fit(0), fit(1 << 20)
    np.testing.assert_array_equal(encoded.model.params.data, whole.model.params.data)
    assert [h["loss"] for h in encoded.history] == [h["loss"] for h in whole.history]
    # both ranks trained on encoded rows in both stages (and on raw rows with limit 0)
    assert [h.get("encoded_ranks") for h in encoded.history] == [2, None, 2, None]
    assert [h.get("encoded_ranks") for h in whole.history] == [0, None, 0, None]
    assert np.abs(whole.model.params.data - encoded_model().params.data).max() > 1e-3
