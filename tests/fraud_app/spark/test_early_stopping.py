"""Early stopping on validation AP in the distributed trainer (contract C7)."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.layers import Linear, ReLU, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.metrics import average_precision
from dlcore.model import Model
from dlcore.optimizers import Adam
from fraud_app.errors import ConfigError, EmptyInputError, TrainingError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.data import PartitionData
from fraud_app.spark.early_stopping import EarlyStopper, EarlyStoppingConfig
from fraud_app.spark.trainer import DistributedTrainer

D = 6


def _arrays(n, seed, flip=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(n) > 0.5).astype(np.float32)
    return X, (1 - y if flip else y)


def _df(spark, n=240, seed=0, flip=False):
    X, y = _arrays(n, seed, flip)
    rows = [(X[i].tolist(), float(y[i])) for i in range(n)]
    return spark.createDataFrame(rows, "features array<float>, label double").repartition(2)


def _model(seed=1):
    return Model(Sequential([Linear(8), ReLU(), Linear(1)]), in_features=D, seed=seed)


def _fit(spark, df, val, **cfg):
    base = dict(num_workers=2, global_batch_size=32, epochs=None, iterations=40, group_size="auto",
                warmup_iterations=2)  # fmt: skip
    trainer = DistributedTrainer(_model(), BCEWithLogits(), Adam(learning_rate=3e-2),
                                 DistributedConfig(**{**base, **cfg}))  # fmt: skip
    return trainer.fit(df, validation_df=val)


# -- driver-side logic, no Spark ---------------------------------------------------------------
def _stopper(patience=2, every_epochs=0.5, total=40, ipe=8, warmup=0, **kw):
    X, y = _arrays(50, 3)
    cfg = EarlyStoppingConfig(patience=patience, every_epochs=every_epochs, **kw)
    return EarlyStopper(cfg, PartitionData(X, y, None), _model().get_config(),
                        total_iterations=total, iterations_per_epoch=ipe, warmup_iterations=warmup)  # fmt: skip


def test_no_evaluation_before_min_epochs_or_during_the_warm_up():
    assert _stopper(every_epochs=0.5, min_epochs=1.5, total=30, ipe=8).points == [
        12,
        16,
        20,
        24,
        28,
        30,
    ]
    assert _stopper(every_epochs=1.0, min_epochs=1.0, total=30, ipe=8, warmup=20).points == [24, 30]
    s = _stopper(every_epochs=None, every_groups=1, min_epochs=1.0, total=30, ipe=8)
    assert not s.due(4, 1) and s.due(8, 2)


def test_evaluation_points_become_group_boundaries():
    s = _stopper(every_epochs=0.5, total=19, ipe=8)
    assert s.points == [4, 8, 12, 16, 19]
    assert s.cut([10, 9], 0) == [4, 4, 2, 2, 4, 3]
    assert s.cut([3], 5) == [3]  # 5..8 ends exactly at a point: nothing to cut
    assert all(s.due(p, None) for p in s.points) and not s.due(5, 3)


def test_patience_counts_evaluations_without_improvement():
    s = _stopper(patience=2)
    m = _model()
    params, state = m.params.data.copy(), {}
    s.evaluate(4, 1, params, state)
    assert s.best_iteration == 4 and not s.stopped
    s.evaluate(8, 2, params, state)  # same weights: no improvement
    assert not s.stopped
    s.evaluate(12, 3, params, state)
    assert s.stopped and s.best_iteration == 4 and len(s.records) == 3


def test_a_stage_that_may_stop_ends_at_that_evaluation():
    s = _stopper(patience=2, every_epochs=0.5, total=19, ipe=8)  # points 4, 8, 12, 16, 19
    m = _model()
    params = m.params.data.copy()
    plan = s.cut([10, 9], 0)  # [4, 4, 2, 2, 4, 3]
    # patience 2: the second evaluation in the stage (8) is the first that could stop
    assert s.until_possible_stop(plan, 0, 0) == [4, 4]
    s.evaluate(4, 1, params, {})
    assert s.until_possible_stop([4, 2, 2, 4, 3], 4, 1) == [4, 2, 2]  # a best: 8, then 12
    s.evaluate(8, 2, params, {})  # no improvement: the next evaluation (12) may stop
    assert s.until_possible_stop([2, 2, 4, 3], 8, 2) == [2, 2]
    assert s.until_possible_stop([4], 8, 2) == [4]  # already ends at the point
    assert s.until_possible_stop([3], 16, 4) == [3]  # the last point (total) never stops early
    g = _stopper(patience=1, every_epochs=None, every_groups=2, total=40, ipe=8)
    assert g.until_possible_stop([5, 5, 5, 5], 10, 1) == [5]  # after 2 groups: evaluated
    assert _stopper(patience=3).until_possible_stop([40], 0, 0) == [40]  # no point inside


def test_average_best_ends_with_the_mean_of_the_best_evaluations_weights():
    s = _stopper(patience=5, average_best=2)
    m = _model()
    X, y = _arrays(50, 3)
    rng = np.random.default_rng(4)
    candidates = [rng.normal(0.0, 0.5, m.params.size).astype(np.float32) for _ in range(4)]
    aps = []
    for i, params in enumerate(candidates):
        s.evaluate(4 * (i + 1), i + 1, params, {})
        m.load_weights(params)
        aps.append(average_precision(y, m.predict(X).ravel()))
    assert [r["average_precision"] for r in s.records] == pytest.approx(aps)
    top2 = np.argsort(-np.asarray(aps), kind="stable")[:2]
    assert s.best_iteration == 4 * (top2[0] + 1)  # the single best, for a refit
    params, _ = s.final_weights(candidates[-1], {})
    expected = (candidates[top2[0]].astype(np.float64) + candidates[top2[1]]) / 2
    np.testing.assert_array_equal(params, expected.astype(np.float32))
    one = _stopper(patience=5)  # average_best 1: the best evaluation's weights, as before
    for i, params in enumerate(candidates):
        one.evaluate(4 * (i + 1), i + 1, params, {})
    np.testing.assert_array_equal(one.final_weights(candidates[-1], {})[0], candidates[top2[0]])


def test_bad_settings_and_one_class_validation_are_clear_errors():
    with pytest.raises(ConfigError, match="patience must be an integer >= 1"):
        EarlyStoppingConfig(patience=0)
    with pytest.raises(ConfigError, match="average_best must be an integer >= 1"):
        EarlyStoppingConfig(average_best=0)
    with pytest.raises(ConfigError, match="average_best > 1 .* needs restore_best"):
        EarlyStoppingConfig(average_best=3, restore_best=False)
    with pytest.raises(ConfigError, match="exactly one of every_epochs or every_groups"):
        EarlyStoppingConfig(every_epochs=None)
    X, _ = _arrays(20, 0)
    with pytest.raises(EmptyInputError, match="both classes"):
        EarlyStopper(EarlyStoppingConfig(), PartitionData(X, np.zeros(20, np.float32), None),
                     _model().get_config(), total_iterations=10, iterations_per_epoch=2)  # fmt: skip


# -- real Spark runs ---------------------------------------------------------------------------
@pytest.mark.spark
def test_early_stopping_restores_the_best_weights_and_is_reproducible(spark):
    """A validation set whose labels contradict the training data: AP falls as training goes on,
    so the run stops early and must end with the weights of its best evaluation, which are exactly
    the weights of a plain run of best_iteration iterations; a rerun gives the same everything."""
    df, val = _df(spark), _df(spark, n=120, seed=5, flip=True)
    es = EarlyStoppingConfig(patience=2, every_epochs=0.5, restore_best=True)
    a = _fit(spark, df, val, early_stopping=es)
    aps = [r["average_precision"] for r in a.validation]
    best = int(np.argmax(aps))
    assert a.stopped_early and a.iterations < 40
    assert len(aps) == best + 1 + 2  # stopped after `patience` evaluations without improvement
    assert a.best_iteration == a.validation[best]["iteration"] == 4 * (best + 1)
    X, y = _arrays(120, 5, flip=True)
    assert average_precision(y, a.model.predict(X).ravel()) == pytest.approx(max(aps), abs=1e-9)
    plain = _fit(spark, df, None, iterations=a.best_iteration, group_size=3)
    np.testing.assert_allclose(a.model.params.data, plain.model.params.data, rtol=1e-5, atol=1e-6)
    again = _fit(spark, df, val, early_stopping=es)
    assert [r["iteration"] for r in again.validation] == [r["iteration"] for r in a.validation]
    np.testing.assert_allclose([r["average_precision"] for r in again.validation], aps, rtol=1e-6)
    assert again.best_iteration == a.best_iteration
    np.testing.assert_allclose(again.model.params.data, a.model.params.data, rtol=1e-5, atol=1e-6)


@pytest.mark.spark
def test_average_best_is_the_mean_of_plain_runs_to_the_best_iterations(spark):
    """With average_best 2 the run ends with the mean of the weights at its two best
    evaluations: the mean of two plain runs of those iteration counts."""
    df, val = _df(spark), _df(spark, n=120, seed=5, flip=True)
    es = EarlyStoppingConfig(patience=2, every_epochs=0.5, average_best=2)
    a = _fit(spark, df, val, early_stopping=es)
    order = sorted(a.validation, key=lambda r: (-r["average_precision"], r["iteration"]))
    best, second = order[0]["iteration"], order[1]["iteration"]
    assert a.best_iteration == best
    plain = [
        _fit(spark, df, None, iterations=i, group_size=3).model.params.data for i in (best, second)
    ]
    np.testing.assert_allclose(a.model.params.data, (plain[0] + plain[1]) / 2, rtol=1e-5, atol=1e-6)


@pytest.mark.spark
def test_an_early_stop_ends_its_stage_without_cancelling_a_job(spark):
    """The stage that stops ends at the stopping evaluation, so its barrier job succeeds:
    no job of the run is cancelled (a cancel kills both Python workers)."""
    sc = spark.sparkContext
    df, val = _df(spark), _df(spark, n=120, seed=5, flip=True)
    es = EarlyStoppingConfig(patience=2, every_epochs=0.5, restore_best=True)
    group = "early-stop-no-cancel"
    sc.setJobGroup(group, "early stopping without a cancel")
    try:
        res = _fit(spark, df, val, early_stopping=es, stage_groups=8)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert res.stopped_early and res.iterations < 40
    assert res.iterations == res.validation[-1]["iteration"]
    jobs = [sc.statusTracker().getJobInfo(j) for j in sc.statusTracker().getJobIdsForGroup(group)]
    assert jobs and {j.status for j in jobs} == {"SUCCEEDED"}


@pytest.mark.spark
def test_without_restore_best_the_last_weights_stay_and_per_iteration_engine_agrees(spark):
    df, val = _df(spark), _df(spark, n=120, seed=5, flip=True)
    es = EarlyStoppingConfig(patience=2, every_epochs=0.5, restore_best=False)
    a = _fit(spark, df, val, early_stopping=es)
    b = _fit(spark, df, val, early_stopping=es, engine="per_iteration")
    last = _fit(spark, df, None, iterations=a.iterations, group_size=4)
    np.testing.assert_allclose(a.model.params.data, last.model.params.data, rtol=1e-5, atol=1e-6)
    assert [r["iteration"] for r in a.validation] == [r["iteration"] for r in b.validation]
    np.testing.assert_allclose([r["average_precision"] for r in a.validation],
                               [r["average_precision"] for r in b.validation], rtol=1e-4)  # fmt: skip
    evaluated = [h for h in a.history if "validation_average_precision" in h]
    assert [h["end_iteration"] for h in evaluated] == [r["iteration"] for r in a.validation]


@pytest.mark.spark
def test_validation_without_early_stopping_only_records(spark):
    df = _df(spark)
    res = _fit(spark, df, _df(spark, n=120, seed=5), iterations=16)
    assert res.iterations == 16 and not res.stopped_early
    assert [r["iteration"] for r in res.validation] == [8, 16]
    with pytest.raises(TrainingError, match="no validation_df"):
        _fit(spark, df, None, early_stopping=EarlyStoppingConfig())


@pytest.mark.spark
def test_the_per_iteration_engine_names_the_checkpoint_dir_it_does_not_use(spark, tmp_path, caplog):
    """It wrote no checkpoint and said nothing: a user counting on a resume got none."""
    res = _fit(spark, _df(spark), None, iterations=4, engine="per_iteration",
               checkpoint_dir=str(tmp_path / "ck"))  # fmt: skip
    assert res.iterations == 4
    assert f"engine per_iteration writes no checkpoints: checkpoint_dir {tmp_path / 'ck'}" in (
        caplog.text
    )
    assert not (tmp_path / "ck").exists() or not any((tmp_path / "ck").iterdir())
