"""Training uses its validation window: early stopping per member, then a refit on train +
validation with each member's chosen iteration count (pipelines/training)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.features.config import SplitsSection
from pipelines.training import nodes
from pipelines.training.pipeline import _refit

pytestmark = pytest.mark.spark
DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
D = 4
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _features(spark, days=30, per_day=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(days):
        for i in range(per_day):
            y = float(rng.random() < 0.15)
            x = rng.standard_normal(D)
            x[0] += 2.0 * y
            ts = T0 + dt.timedelta(days=day, seconds=int(rng.integers(0, 86_400)))
            rows.append((f"d{day}-{i}", ts, y, x.astype(np.float32).tolist()))
    schema = "transaction_id string, timestamp timestamp, label double, features array<float>"
    return spark.createDataFrame(rows, schema)


def _config(tmp_path):
    return load_config(DEMO, {
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


def test_refit_trains_on_exactly_train_plus_validation_with_the_chosen_counts(spark, tmp_path):
    config = _config(tmp_path)
    df = _features(spark)
    splits = nodes.split(df, SplitsSection(test_days=5, validation_days=5), label_delay_days=3)
    names = [f"f{i}" for i in range(D)]

    def fit():
        balanced = nodes.balance(splits.train, config.balancing)
        return nodes.fit_ensemble(balanced, splits.train, config.training, names,
                                  features_col="features", checkpoint_root=None,
                                  validation_df=splits.validation)  # fmt: skip

    fitted = fit()
    chosen = [r.best_iteration for r in fitted.results]
    assert all(c and c > 0 for c in chosen)
    assert all(
        r.validation and r.validation[-1]["iteration"] <= r.iterations for r in fitted.results
    )

    refit, summary = _refit(config, splits, fitted, names, "features", str(tmp_path / "ckpt"))
    assert [r.iterations for r in refit.results] == chosen == summary["iterations"]
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
    refit2, _ = _refit(config, splits, again, names, "features", str(tmp_path / "ckpt2"))
    for a, b in zip(refit.ensemble.members, refit2.ensemble.members, strict=True):
        np.testing.assert_allclose(a.params.data, b.params.data, rtol=1e-5, atol=1e-6)


def test_refit_off_or_without_early_stopping_keeps_the_first_ensemble(spark, tmp_path):
    config = load_config(DEMO, {"paths.root": str(tmp_path), "training.refit": False})
    assert _refit(config, None, None, [], "features", "") == (None, None)
