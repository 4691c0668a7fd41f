"""Training nodes: pure functions of DataFrames and config sections (no reading or writing).

split -> balance -> fit ensemble -> score -> evaluate. I/O lives in pipeline.py and
outputs.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcore.daily_ranking import alert_budget
from fraud_app.balancing.base import BalancedData
from fraud_app.balancing.config import BalancingSection
from fraud_app.balancing.registry import from_config as balancing_strategy
from fraud_app.evaluation.spark_train import (
    ExecutorWindow,
    columns_figures,
    test_window_figures,
)
from fraud_app.features.config import SplitsSection
from fraud_app.features.splits import SplitResult, require_training_frauds, split_by_time
from fraud_app.models.config import TrainingSection
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.models.train import (
    Checkpoints,
    Columns,
    EncodingRows,
    EnsembleTraining,
    MemberPlan,
    TrainingInputs,
    evaluate_scores,
    feature_statistics,
    train_ensemble,
)
from fraud_app.scoring.batch import ScoringOptions, score_arrow_column, score_dataframe
from fraud_app.scoring.evaluate import collect_window
from fraud_app.scoring.reference import reference_from_training
from fraud_app.scoring.tasks import task_errors
from fraud_app.spark.data import PartitionData
from fraud_app.spark.result_cap import result_cap
from fraud_app.spark.validation_rows import VALIDATION_ADVICE


def split(features_df, cfg: SplitsSection, *, label_delay_days: float,
          content: bool = False) -> SplitResult:  # fmt: skip
    """The time windows; a training window without a fraud is refused naming where they are.
    `content`: a checksum of each window's values in its summary (split_by_time)."""
    splits = split_by_time(features_df, cfg, label_delay_days=label_delay_days, content=content)
    require_training_frauds(splits.summary)
    return splits


def balance(train_df, cfg: BalancingSection, *, keep: Sequence[str] | None = None) -> BalancedData:
    """The balanced subsets; keep: only these columns besides the id and the label (what
    training reads), so that a persisted BalancedData caches narrow rows."""
    strategy = balancing_strategy(cfg)
    if keep is not None:
        columns = dict.fromkeys([strategy.id_column, strategy.label_column, *keep])
        train_df = train_df.select(*columns)
    return strategy.balance(train_df)


@dataclass(frozen=True)
class TrainWindow:
    """The window an ensemble trains on (its balanced subsets are the members' data) and
    what is known of it already. rows: its row count (the splits' summary), spares a count;
    stats: its (mean, std) of features_col when already summed (the feature check's pass,
    fraud_app.features.checks.check_window), spares a pass; encoding_sample: its
    input-encoding sample, drawn already (fraud_app.models.train.EncodingRows)."""

    df: Any
    feature_names: list[str]
    features_col: str
    rows: int | None = None
    stats: tuple[np.ndarray, np.ndarray] | None = None
    encoding_sample: np.ndarray | None = None


def fit_ensemble(
    balanced: BalancedData,
    window: TrainWindow,
    cfg: TrainingSection,
    *,
    checkpoint_root: str | None = None,
    validation_df=None,
    plan: MemberPlan | None = None,
) -> EnsembleTraining:
    """The members on `balanced`'s subsets, standardised with statistics of the whole
    `window` (not of one subset), whose rows fit the input encoding too.
    validation_df: early stopping on it (when configured); plan: a refit's iteration
    counts or warm start (the members keep their statistics and bins) and the members'
    planner measurement (fraud_app.models.train.MemberPlan)."""
    plan = plan or MemberPlan()
    if plan.warm_start is not None:
        stats = None
    elif window.stats is None:
        stats = feature_statistics(window.df, window.features_col, window.feature_names)
    else:
        stats = window.stats
    inputs = TrainingInputs(
        window.feature_names,
        stats,
        Columns(window.features_col, weight=balanced.weight_column),
        validation=validation_df,
        encoding=EncodingRows(window.df, window.rows, window.encoding_sample),
    )
    return train_ensemble(
        balanced.subsets, cfg, inputs, plan=plan, checkpoints=Checkpoints(checkpoint_root)
    )


def refit_data(splits: SplitResult):
    """The rows a refit trains on: exactly the train and validation windows (never gap or test)."""
    return splits.train.unionByName(splits.validation)


def score(df, ensemble: FraudEnsemble, *, features_col: str, members: bool = False):
    return score_dataframe(
        df, ensemble, features_col=features_col, options=ScoringOptions(members=members)
    )


def evaluate(
    scored_df, *, label_col: str = "label", score_col: str = "fraud_score"
) -> dict[str, Any]:
    """evaluate_scores' figures of one scored window: collected, or past `fits_on_driver`
    computed on the executors (fraud_app.evaluation.spark_train)."""
    with task_errors():
        return columns_figures(scored_df, [score_col], label_col)[score_col]


# -- scoring metadata (C2) and the arrays evaluation needs ------------------------------
_COLLECT = ("label", "fraud_score", "card_id", "fraud_pattern", "event_date")


def collect_scores(scored_df) -> dict[str, np.ndarray]:
    """The columns evaluation needs, as NumPy arrays (only these reach the driver)."""
    cols = [c for c in _COLLECT if c in scored_df.columns]
    with task_errors():
        return collect_window(scored_df, cols)


def test_window(scored_df, scoring) -> dict[str, np.ndarray] | ExecutorWindow:
    """The scored test window as collect_scores gives it, or, past `fits_on_driver`, its
    figures computed on the executors (fraud_app.evaluation.spark_train)."""
    cols = [c for c in _COLLECT if c in scored_df.columns]
    with task_errors():
        done = test_window_figures(scored_df, cols, scoring)
    return collect_scores(scored_df) if done is None else done


def vector_matrix(column) -> np.ndarray:
    """(rows, width) float32 of an Arrow list column whose rows all hold `width` values."""
    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    n = len(column)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if flat.size % n:
        raise ValueError(f"cannot stack {n} vectors of {flat.size} values in all into a matrix")
    return flat.reshape(n, flat.size // n)


def score_and_collect(df, ensemble: FraudEnsemble, features_col: str) -> dict[str, np.ndarray]:
    """Scores of one window, with the columns evaluation needs."""
    return collect_scores(score(df, ensemble, features_col=features_col))


@dataclass(frozen=True)
class ValidationWindow:
    """The validation window on the driver, collected ONCE per training run: the columns
    evaluation needs and the feature matrix. Early stopping scores it at every evaluation
    point, the promotion gate scores the champion on it, and the ensembles (the one early
    stopping selected, then the refit) are scored on it here, each with the function the
    Spark scorer runs per Arrow batch (`score_arrow_column`: same checks, and the fused
    plan gives a row the same bits in any batch), instead of one Spark job per model."""

    columns: dict[str, np.ndarray]  # label, card_id, fraud_pattern, event_date (if present)
    vectors: Any  # the Arrow list column of feature vectors, as collected
    X: np.ndarray  # (rows, width) float32

    @property
    def gate_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(X, labels): what the promotion gate scores the champion on (pipelines.training.gate)."""
        return self.X, self.columns["label"]

    def partition_data(self) -> PartitionData:
        """(X, y) for early stopping, as collect_validation would give them."""
        return PartitionData(self.X, self.columns["label"].astype(np.float32), None)

    def scored(self, ensemble: FraudEnsemble) -> dict[str, np.ndarray]:
        """The columns + `fraud_score`, as score_and_collect gives them."""
        if len(self.X) == 0:
            return {**self.columns, "fraud_score": np.zeros(0)}
        score = score_arrow_column(self.vectors, ensemble, ScoringOptions())[0]
        return {**self.columns, "fraud_score": score.to_numpy(zero_copy_only=False)}


def collect_validation_window(df, features_col: str) -> ValidationWindow:
    """One Spark job: the evaluation columns and the feature vectors of the window."""
    cols = [c for c in _COLLECT if c in df.columns and c != "fraud_score"]
    with task_errors(), result_cap("the validation window", VALIDATION_ADVICE):
        table = df.select(*cols, features_col).toArrow()
    vectors = table.column(features_col).combine_chunks()
    columns = {c: table.column(c).to_numpy(zero_copy_only=False) for c in cols}
    return ValidationWindow(columns, vectors, vector_matrix(vectors))


def evaluate_arrays(
    data: dict[str, np.ndarray] | ExecutorWindow, budget: float | None = None
) -> dict[str, Any]:
    """evaluate_scores' figures of one window (its `recall_at_alert_X`: the top round(X x
    rows) of the whole window); with `budget` (scoring.alert_budget) and the rows' dates,
    also `recall_at_budget`: the recall of the DAILY alert budget, each day's top ceil(b x
    rows of the day), ties at the cut-off all in (dlcore.daily_ranking, the figure of `evaluate` and `backtest`),
    with `alerts_at_budget` and `alert_quota` beside it. A window computed on the executors brings its own (budget: scoring.alert_budget)."""
    if isinstance(data, ExecutorWindow):
        return data.metrics
    out = evaluate_scores(data["label"], data["fraud_score"])
    if budget is not None and "event_date" in data and len(data["label"]):
        at_budget = alert_budget(data["label"], data["fraud_score"], data["event_date"], budget)
        out.update(budget_keys(at_budget))
    return out


def budget_keys(at_budget: dict[str, Any]) -> dict[str, Any]:
    """The training report's keys of the daily budget's figures (alert_budget's): its
    recall, the rows it alerted and the alerts it allows (backtest's fold keys): alerts
    above the quota are rows tied at a day's cut-off, all in."""
    return {
        "recall_at_budget": at_budget["recall"],
        "alerts_at_budget": at_budget["alerts"],
        "alert_quota": at_budget["quota"],
    }


def scoring_metadata(splits, ensemble, threshold: float, config, features_col: str):
    """C2: the alert threshold (of the test gap's or validation's scores:
    pipelines/training/threshold.py), training-window means and drift deciles."""
    return reference_from_training(
        splits.train,
        ensemble,
        threshold=threshold,
        budget=config.scoring.alert_budget,
        features_col=features_col,
        train_rows=splits.summary["windows"]["train"]["rows"],
        reference_rows=config.scoring.reference_rows,
        seed=config.training.seed,
    )
