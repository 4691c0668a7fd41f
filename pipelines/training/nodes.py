"""Training nodes: pure functions of DataFrames and config sections (no reading or writing).

split -> balance -> fit ensemble -> score -> evaluate. I/O lives in pipeline.py.
"""

from __future__ import annotations

from typing import Any

from fraud_app.balancing.base import BalancedData
from fraud_app.balancing.config import BalancingSection
from fraud_app.balancing.registry import from_config as balancing_strategy
from fraud_app.features.config import SplitsSection
from fraud_app.features.splits import SplitResult, split_by_time
from fraud_app.models.config import TrainingSection
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.models.train import (
    EnsembleTraining,
    evaluate_scores,
    feature_statistics,
    train_ensemble,
)
from fraud_app.scoring.batch import score_dataframe


def split(features_df, cfg: SplitsSection, *, label_delay_days: float) -> SplitResult:
    return split_by_time(features_df, cfg, label_delay_days=label_delay_days)


def balance(train_df, cfg: BalancingSection) -> BalancedData:
    return balancing_strategy(cfg).balance(train_df)


def fit_ensemble(
    balanced: BalancedData,
    train_df,
    cfg: TrainingSection,
    feature_names: list[str],
    *,
    features_col: str,
    checkpoint_root: str | None,
    validation_df=None,
    iterations: list[int] | None = None,
) -> EnsembleTraining:
    """validation_df: early stopping on it (when configured); iterations: a refit's counts."""
    # Standardise with statistics of the whole training window, not of one subset.
    stats = feature_statistics(train_df, features_col)
    return train_ensemble(
        balanced.subsets,
        cfg,
        feature_names,
        stats=stats,
        checkpoint_root=checkpoint_root,
        features_col=features_col,
        weight_col=balanced.weight_column,
        validation=validation_df,
        iterations=iterations,
    )


def refit_data(splits: SplitResult):
    """The rows a refit trains on: exactly the train and validation windows (never gap or test)."""
    return splits.train.unionByName(splits.validation)


def refit_iterations(fitted: EnsembleTraining) -> list[int] | None:
    """Each member's chosen iteration count, or None when early stopping did not run."""
    chosen = [r.best_iteration for r in fitted.results]
    return None if any(c is None for c in chosen) else [int(c) for c in chosen]


def score(df, ensemble: FraudEnsemble, *, features_col: str):
    return score_dataframe(df, ensemble, features_col=features_col)


def evaluate(
    scored_df, *, label_col: str = "label", score_col: str = "fraud_score"
) -> dict[str, Any]:
    pdf = scored_df.select(label_col, score_col).toPandas()
    return evaluate_scores(pdf[label_col].to_numpy(), pdf[score_col].to_numpy())
