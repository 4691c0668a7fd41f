"""`fraud-app demo-train`: train a small dlcore MLP on a generated imbalanced task.

A smoke test of the core that needs no Spark: it generates a fraud-like task
(~2 % positives, non-linear signal), trains with early stopping on a validation
split, and prints ROC AUC and average precision on a held-out test split.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from dlcore.layers import Linear, ReLU, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.metrics import average_precision, roc_auc
from dlcore.model import Model
from dlcore.optimizers import Adam
from dlcore.training.callbacks import EarlyStopping
from dlcore.training.trainer import Trainer, TrainerConfig
from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError

logger = logging.getLogger(__name__)
# ~2 % positives split 70/15/15: below this the test split holds ~1 fraud or none (ROC AUC
# and AP undefined), and 0 or negative rows failed with a NumPy traceback.
MIN_ROWS = 2_000
# A demo held in memory (20 float32 features a row): 10 million rows are 0.8 GB; more ended
# in a NumPy "array is too big" or MemoryError traceback.
MAX_ROWS = 10_000_000
USES_PATHS = False  # generates its data in memory; writes nothing under paths.root


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, default=60_000, help="generated rows (default 60000)")
    p.add_argument(
        "--epochs", type=int, default=15, help="at most this many (early stopping; default 15)"
    )
    p.add_argument("--seed", type=int, default=0, help="data and weights seed (default 0)")


def make_task(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 20)).astype(np.float32)
    score = (
        1.5 * X[:, 0] * X[:, 1] + np.abs(X[:, 2]) * 1.2 - X[:, 3] + 0.8 * rng.standard_normal(rows)
    )
    y = (score > np.quantile(score, 0.98)).astype(np.float32)
    return X, y


def run(args: argparse.Namespace, config: AppConfig) -> int:
    if args.rows < MIN_ROWS:
        raise ConfigError(
            f"demo-train --rows must be at least {MIN_ROWS:,} (about 2 % of the rows are "
            f"frauds; the 15 % test split needs several). Received: {args.rows}"
        )
    if args.rows > MAX_ROWS:
        raise ConfigError(
            f"demo-train --rows must be at most {MAX_ROWS:,} (a demo in memory; train on "
            f"large data with `fraud-app run`). Received: {args.rows:,}"
        )
    if args.epochs < 1:  # it was "TrainerConfig.epochs must be ...", naming no flag
        raise ConfigError(f"demo-train --epochs must be at least 1. Received: {args.epochs}")
    if args.seed < 0:  # NumPy's generators take non-negative seeds (it was a traceback)
        raise ConfigError(f"demo-train --seed must be >= 0. Received: {args.seed}")
    X, y = make_task(args.rows, args.seed)
    n_train, n_val = int(0.7 * len(X)), int(0.15 * len(X))
    Xtr, ytr = X[:n_train], y[:n_train]
    Xva, yva = X[n_train : n_train + n_val], y[n_train : n_train + n_val]
    Xte, yte = X[n_train + n_val :], y[n_train + n_val :]
    model = Model(
        Sequential([Linear(64), ReLU(), Linear(32), ReLU(), Linear(1)]),
        in_features=20,
        seed=args.seed,
    )
    pos_weight = float((1 - ytr.mean()) / max(ytr.mean(), 1e-9)) ** 0.5
    trainer = Trainer(
        model,
        BCEWithLogits(pos_weight=pos_weight),
        Adam(learning_rate=2e-3),
        TrainerConfig(epochs=args.epochs, batch_size=512, seed=args.seed),
        [EarlyStopping(monitor="val_average_precision", patience=3)],
    )
    t0 = time.perf_counter()
    history = trainer.fit(Xtr, ytr, validation_data=(Xva, yva))
    seconds = time.perf_counter() - t0
    scores = model.predict(Xte).reshape(-1)
    auc, ap = roc_auc(yte, scores), average_precision(yte, scores)
    print(
        f"dlcore demo: {len(history.epochs)} epochs in {seconds:.1f}s on {len(Xtr):,} rows "
        f"({model.params.size:,} parameters, backend {model.ops.name}); "
        f"test ROC AUC {auc:.4f}, average precision {ap:.4f} (positive rate {yte.mean():.2%})"
    )
    return 0
