"""A small hand-made feature table and the demo config shrunk to it, shared by the
`backtest` / `tune` tests (4 features with a fraud signal, 40 days of 50 rows)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from fraud_app.config import AppConfig, load_config

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
D = 4


def signal_rows(rng, days: int, per_day: int, fraud_rate: float):
    """(transaction_id, timestamp, label, 4 features) per row, the label drawn at
    `fraud_rate` and feature 0 shifted by 2 for frauds; a caller may draw more from `rng`
    for each row before taking the next."""
    for day in range(days):
        for i in range(per_day):
            y = int(rng.random() < fraud_rate)
            x = rng.standard_normal(D)
            x[0] += 2.0 * y
            ts = T0 + dt.timedelta(days=day, seconds=int(rng.integers(0, 86_400)))
            yield f"d{day}-{i}", ts, y, x


def feature_table(spark, path: Path, days=40, per_day=50, seed=0):
    """A feature table: 4 features with a fraud signal; frauds confirmed 1-12 days later."""
    rng = np.random.default_rng(seed)
    rows = []
    for tid, ts, y, x in signal_rows(rng, days, per_day, 0.12):
        lt = ts + dt.timedelta(days=float(rng.uniform(1, 12)) if y else 30)
        rows.append((tid, f"c{rng.integers(0, 300)}", ts, y, lt, x.astype(np.float32).tolist()))
    schema = "transaction_id string, card_id string, timestamp timestamp, label int, label_time timestamp, features array<float>"
    spark.createDataFrame(rows, schema).write.mode("overwrite").parquet(str(path))
    names = [f"f{i}" for i in range(D)]
    (path / "_features.json").write_text(
        json.dumps({"version": 1, "feature_names": names, "vector_column": "features"})
    )


def small_config(spark, root: Path, **overrides) -> AppConfig:
    """The demo config on `feature_table` (written to root/features): one subset of every
    row, an 8-unit model, a few epochs of batch 64, no checkpoints; `overrides` on top."""
    feature_table(spark, root / "features")
    return load_config(DEMO, {
        "paths.root": str(root),
        "features.output": str(root / "features"),
        "features.label_delay_days": 3,
        "splits.test_days": 5,
        "splits.validation_days": 5,
        "balancing.unionpay_subsets.n_subsets": 1,
        "balancing.unionpay_subsets.normal_ratio": None,
        "training.model.hidden": [8],
        "training.distributed.global_batch_size": 64,
        "training.distributed.epochs": 3,
        "training.distributed.group_size": 8,
        "training.checkpoint": False,
        **overrides,
    })  # fmt: skip
