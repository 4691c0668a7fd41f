"""Training uses its validation window: early stopping per member, then a refit on train +
validation with each member's chosen iteration count (pipelines/training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.features.config import SplitsSection
from pipelines.training import nodes
from pipelines.training.members import refit_ensemble
from tests.pipelines.tune_data import DEMO, D, signal_rows

pytestmark = pytest.mark.spark


def _features(spark, days=30, per_day=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(tid, ts, float(y), x.astype(np.float32).tolist())
            for tid, ts, y, x in signal_rows(rng, days, per_day, 0.15)]  # fmt: skip
    schema = "transaction_id string, timestamp timestamp, label double, features array<float>"
    return spark.createDataFrame(rows, schema)


def _config(tmp_path, **refit):
    return load_config(DEMO, {
        **{f"training.refit.{k}": v for k, v in refit.items()},
        "paths.root": str(tmp_path),
        "balancing.unionpay_subsets.n_subsets": 2,
        "balancing.unionpay_subsets.normal_ratio": None,
        "training.model.hidden": [8],
        "training.distributed.global_batch_size": 32,
        "training.distributed.epochs": 6,
        "training.distributed.group_size": 4,
        "training.distributed.early_stopping.patience": 2,
        "training.distributed.early_stopping.every_epochs": 0.5,
        "training.checkpoint": False,
    })  # fmt: skip


@pytest.mark.slow  # four ensemble trainings: ~100 s at load 20 on the shared machine
def test_refit_trains_on_exactly_train_plus_validation_with_the_chosen_counts(spark, tmp_path):
    config = _config(tmp_path, method="fresh")
    df = _features(spark)
    splits = nodes.split(df, SplitsSection(test_days=5, validation_days=5), label_delay_days=3)
    names = [f"f{i}" for i in range(D)]

    def fit():
        balanced = nodes.balance(splits.train, config.balancing)
        return nodes.fit_ensemble(balanced, nodes.TrainWindow(splits.train, names, "features"),
                                  config.training, validation_df=splits.validation)  # fmt: skip

    fitted = fit()
    chosen = [r.best_iteration for r in fitted.results]
    assert all(c and c > 0 for c in chosen)
    assert all(
        r.validation and r.validation[-1]["iteration"] <= r.iterations for r in fitted.results
    )

    refit, summary = refit_ensemble(
        config, splits, fitted, names, "features", str(tmp_path / "ckpt")
    )
    assert [r.iterations for r in refit.results] == chosen == summary["iterations"]
    assert summary["method"] == "fresh" and summary["chosen_iterations"] == chosen
    # exactly the train and validation rows: no gap row, no test row
    used = {r[0] for r in nodes.refit_data(splits).select("transaction_id").collect()}
    expected = {
        r[0]
        for part in (splits.train, splits.validation)
        for r in part.select("transaction_id").collect()
    }
    assert used == expected and summary["rows"] == len(expected)
    test_start = splits.windows[2].start
    gap_and_test = {
        r[0]
        for r in df.where(df.timestamp >= splits.windows[1].end).select("transaction_id").collect()
    }
    assert gap_and_test and not used & gap_and_test
    assert nodes.refit_data(splits).where(F.col("timestamp") >= F.lit(test_start)).count() == 0

    # the same seed gives the same chosen counts and the same refit weights
    again = fit()
    assert [r.best_iteration for r in again.results] == chosen
    refit2, _ = refit_ensemble(config, splits, again, names, "features", str(tmp_path / "ckpt2"))
    for a, b in zip(refit.ensemble.members, refit2.ensemble.members, strict=True):
        np.testing.assert_allclose(a.params.data, b.params.data, rtol=1e-5, atol=1e-6)


def test_refit_off_or_without_early_stopping_keeps_the_first_ensemble(spark, tmp_path):
    config = load_config(DEMO, {"paths.root": str(tmp_path), "training.refit": False})
    assert refit_ensemble(config, None, None, [], "features", "") == (None, None)


def _first_fit(spark, config):
    splits = nodes.split(
        _features(spark), SplitsSection(test_days=5, validation_days=5), label_delay_days=3
    )
    names = [f"f{i}" for i in range(D)]
    balanced = nodes.balance(splits.train, config.balancing)
    fitted = nodes.fit_ensemble(balanced, nodes.TrainWindow(splits.train, names, "features"),
                                config.training, validation_df=splits.validation)  # fmt: skip
    return splits, names, fitted


@pytest.mark.slow  # one ensemble training and three warm-start refits
def test_warm_start_refit_continues_from_the_best_weights_on_train_plus_validation(spark, tmp_path):
    config = _config(tmp_path)  # the default: warm_start, 3 passes, cosine decay
    refit_cfg = config.training.refit
    assert (refit_cfg.method, refit_cfg.passes, refit_cfg.decay) == ("warm_start", 3.0, "cosine")
    splits, names, fitted = _first_fit(spark, config)
    best = [(m.params.data.copy(), m.layer.state()) for m in fitted.ensemble.members]
    refit, summary = refit_ensemble(config, splits, fitted, names, "features", str(tmp_path / "a"))

    # each member trains on its subset of exactly train + validation, for the stated count:
    # ceil(passes * its rows / global batch)
    windows = splits.summary["windows"]
    assert summary["rows"] == windows["train"]["rows"] + windows["validation"]["rows"]
    subsets = nodes.balance(nodes.refit_data(splits), config.balancing).subsets
    rows = [s.count() for s in subsets]
    assert [r.rows for r in refit.results] == rows
    assert summary["iterations"] == [math.ceil(3.0 * n / 32) for n in rows]
    assert [r.iterations for r in refit.results] == summary["iterations"]
    assert summary["method"] == "warm_start"
    assert summary["chosen_iterations"] == [r.best_iteration for r in fitted.results]

    # it starts from the early-stopped best weights (and keeps their Standardize statistics
    # and encoding state): with the learning rate scaled to ~0 it ends where it started
    still, _ = refit_ensemble(_config(tmp_path, learning_rate_scale=1e-9), splits, fitted,
                              names, "features", str(tmp_path / "b"))  # fmt: skip
    for member, (params, state) in zip(still.ensemble.members, best, strict=True):
        np.testing.assert_allclose(member.params.data, params, rtol=0, atol=1e-6)
        for key, value in state.items():
            np.testing.assert_array_equal(member.layer.state()[key], value)
    # the first fit's members are untouched, and the real refit did train
    for member, (params, _) in zip(fitted.ensemble.members, best, strict=True):
        np.testing.assert_array_equal(member.params.data, params)
    moved = [
        np.abs(a.params.data - p).max()
        for a, (p, _) in zip(refit.ensemble.members, best, strict=True)
    ]
    assert min(moved) > 1e-3

    # the same seed gives the same refit weights
    again, _ = refit_ensemble(config, splits, fitted, names, "features", str(tmp_path / "c"))
    for a, b in zip(refit.ensemble.members, again.ensemble.members, strict=True):
        np.testing.assert_allclose(a.params.data, b.params.data, rtol=1e-5, atol=1e-6)
