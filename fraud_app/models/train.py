"""Train a FraudEnsemble on Spark: one distributed dlcore model per balanced subset.

Owns: feature statistics (one Spark pass, partial sums per Arrow batch), the
member loop (each member trained by DistributedTrainer on its subset, with its
own checkpoint directory and seed), and evaluation of a scored DataFrame.
Does not own: balancing (fraud_app.balancing builds the subsets) or scoring.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.layers import PiecewiseLinear, quantile_edges
from dlcore.metrics import average_precision, roc_auc
from fraud_app.errors import ConfigError, EmptyInputError
from fraud_app.features.moments import batch_moments, combine_moments, require_finite_moments
from fraud_app.models.builders import build_loss, build_model, build_optimizer
from fraud_app.models.config import RefitSection, TrainingSection
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.spark.data import PartitionData
from fraud_app.spark.early_stopping import collect_validation
from fraud_app.spark.planner import StageTiming
from fraud_app.spark.summary import DataSummary, require_trainable
from fraud_app.spark.trainer import DistributedTrainer, TrainingResult, prepare_training_data

logger = logging.getLogger(__name__)


def _partial_moments(features_col: str):
    def fn(batches: Iterator):
        import pyarrow as pa

        for batch in batches:
            if batch.num_rows == 0:
                continue
            n, s1, s2 = batch_moments(batch.column(features_col))
            yield pa.RecordBatch.from_arrays(
                [pa.array([n]), pa.array([s1.tolist()]), pa.array([s2.tolist()])],
                ["n", "s1", "s2"],
            )

    return fn


def feature_statistics(
    df, features_col: str = "features", names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every feature, in one Spark pass. With `names`, a
    feature whose values are infinite in the float32 vector is refused, named."""
    parts = (
        df.select(features_col)
        .mapInArrow(_partial_moments(features_col), "n long, s1 array<double>, s2 array<double>")
        .collect()
    )
    stats = combine_moments(
        [p["n"] for p in parts], [p["s1"] for p in parts], [p["s2"] for p in parts]
    )
    if names is not None:
        require_finite_moments(names, *stats)
    return stats


ENCODING_SAMPLE_ROWS = 20_000  # about this many rows fit the input encoding's bins


def sample_fraction(rows: int, max_rows: int = ENCODING_SAMPLE_ROWS) -> float:
    """The Bernoulli fraction `feature_sample` draws from `rows` rows (1.0: every row)."""
    return max_rows / rows if rows > max_rows else 1.0


def feature_sample(
    df,
    features_col: str,
    label_col: str,
    *,
    max_rows: int = ENCODING_SAMPLE_ROWS,
    seed: int = 0,
    rows: int | None = None,
) -> np.ndarray:
    """Up to about `max_rows` feature vectors of `df` (a seeded Bernoulli sample), on the
    driver: what the input encoding's quantile bins are fitted on. rows: the row count of
    `df` when the caller knows it (else one Spark count). The train step draws the same
    rows in its feature check's pass (fraud_app.features.checks.check_window `sample`)."""
    rows = df.count() if rows is None else rows
    fraction = sample_fraction(rows, max_rows)
    if fraction < 1.0:
        df = df.sample(withReplacement=False, fraction=fraction, seed=seed)
    return collect_validation(df, features_col=features_col, label_col=label_col).X


def encoding_state(model, sample: np.ndarray) -> dict[str, np.ndarray] | None:
    """The PiecewiseLinear state (quantile bins of the STANDARDISED sample) for a model
    built by build_model, or None when it has no input encoding. Call after
    set_statistics; every member gets the same bins (set with load_state)."""
    layers = model.layer.layers
    if len(layers) < 2 or not isinstance(layers[1], PiecewiseLinear):
        return None
    if len(sample) == 0:
        raise EmptyInputError("cannot fit the input encoding: the training sample has no rows")
    z, _ = layers[0].forward(np.asarray(sample, dtype=model.params.dtype), False)
    lower, inv_width = quantile_edges(z, layers[1].bins)
    return {"lower": lower, "inv_width": inv_width}


def set_encoding(model, state: dict[str, np.ndarray] | None) -> None:
    if state is not None:
        model.layer.layers[1].load_state(state)


@dataclass(frozen=True)
class WarmStart:
    """A warm-start refit: member k starts from a copy of `members[k]` (its weights, its
    Standardize statistics and input-encoding bins, which are not fitted again) and trains
    `passes` passes over its data with a fresh optimizer at the learning rate times
    `learning_rate_scale`, decayed as `decay` ("none" | "cosine")."""

    members: Sequence[Any]  # dlcore Models
    passes: float
    learning_rate_scale: float = 1.0
    decay: str = "none"

    @classmethod
    def from_refit(cls, members: Sequence[Any], refit) -> WarmStart:
        """From the `training.refit` section (fraud_app.models.config.RefitSection)."""
        return cls(list(members), refit.passes, refit.learning_rate_scale, refit.decay)


def copy_model(model):
    """A new dlcore Model with the architecture, weights and layer state of `model`."""
    from dlcore.model import Model

    copy = Model.from_config(model.get_config())
    copy.load_weights(model.params.data.copy(), model.layer.state())
    return copy


@dataclass
class EnsembleTraining:
    ensemble: FraudEnsemble
    results: list[TrainingResult]
    seconds: float
    # the last member's planner measurement: a refit of the same ensemble starts from it
    stage_timing: StageTiming | None = None


def refit_iterations(fitted: EnsembleTraining) -> list[int] | None:
    """Each member's chosen iteration count, or None when early stopping did not run."""
    chosen = [r.best_iteration for r in fitted.results]
    return None if any(c is None for c in chosen) else [int(c) for c in chosen]


def refit_plan(
    fitted: EnsembleTraining, cfg: RefitSection
) -> tuple[list[int] | None, WarmStart | None] | None:
    """(iterations, warm_start) of the refit `cfg` asks for: the chosen counts of a fresh
    refit, or the early-stopped members (best weights) to continue from; None: no refit
    (off, or early stopping did not run, so nothing was chosen on validation)."""
    if not cfg.enabled:
        return None
    chosen = refit_iterations(fitted)
    if chosen is None:
        return None
    if cfg.method == "fresh":
        return chosen, None
    return None, WarmStart.from_refit(fitted.ensemble.members, cfg)


def train_ensemble(
    subsets: Sequence,
    cfg: TrainingSection,
    feature_names: Sequence[str] | None,
    *,
    stats: tuple[np.ndarray, np.ndarray] | None,
    checkpoint_root: str | Path | None = None,
    features_col: str = "features",
    label_col: str = "label",
    weight_col: str | None = None,
    validation=None,
    iterations: Sequence[int] | None = None,
    inspect: Callable[[DataSummary], None] | None = None,
    encoding_rows=None,
    member_seeds: Sequence[int] | None = None,
    encoding_row_count: int | None = None,
    warm_start: WarmStart | None = None,
    checkpoint_per_setup: bool = False,
    stage_timing: StageTiming | None = None,
    encoding_sample: np.ndarray | None = None,
) -> EnsembleTraining:
    """Train len(subsets) members; member k sees subset k and seed cfg.seed + k.

    stats: the (mean, std) for every member's Standardize layer; None = each member's own
    training data's, read from the summary of the trainer's data pass (no extra Spark job).
    feature_names: None = f0, f1, ... for the width the data pass finds.
    inspect: called with each member's DataSummary before its model is built (input
    checks that raise; the Spark ML estimators pass theirs).
    validation: the (unbalanced) validation window, a DataFrame or collected PartitionData;
    with cfg.distributed.early_stopping each member stops on its AP (collected once here).
    iterations: one fixed iteration count per member (a refit); turns early stopping off.
    encoding_rows: the DataFrame whose sample fits the input encoding's quantile bins
    (cfg.model.encoding; the whole training window); None = the first subset.
    encoding_row_count: the row count of `encoding_rows` when the caller knows it (the
    time splits count every window), which spares a Spark count.
    member_seeds: one seed per member (initial weights, dropout, batch order); None =
    cfg.seed + k.
    warm_start: a warm-start refit (WarmStart): member k continues from its model for its
    passes; stats and encoding_rows are then not used. Turns early stopping off.
    checkpoint_per_setup: each member's checkpoints in a subdirectory per training setup
    (DistributedConfig.checkpoint_per_setup; the Spark ML estimators' checkpointDir).
    stage_timing: an earlier fit's planner measurement (EnsembleTraining.stage_timing of
    the members, for their refit). Each member passes its own on to the next, so only
    the first fit of a process spends a stage measuring (auto group sizes); group and
    stage sizes change no result.
    encoding_sample: `feature_sample(encoding_rows, ..., seed=cfg.seed)` drawn already (the
    train step's feature check draws it in its pass); spares that pass.
    """
    t0 = time.perf_counter()
    members, results = [], []
    if iterations is not None and len(iterations) != len(subsets):
        raise ConfigError(
            f"refit needs one iteration count per member: {len(iterations)} for {len(subsets)} subsets"
        )
    if member_seeds is not None and len(member_seeds) != len(subsets):
        raise ConfigError(
            f"member_seeds needs one seed per member: {len(member_seeds)} for {len(subsets)} subsets"
        )
    if warm_start is not None and len(warm_start.members) != len(subsets):
        raise ConfigError(
            f"a warm-start refit needs one model per member: {len(warm_start.members)} for "
            f"{len(subsets)} subsets"
        )
    fixed = iterations is not None or warm_start is not None
    validation = _usable_validation(validation, cfg, features_col, label_col, fixed)
    names = list(feature_names) if feature_names is not None else None
    encoding: dict[str, np.ndarray] | None = None
    sample = encoding_sample if encoding_rows is not None else None
    for k, subset in enumerate(subsets):
        seed = cfg.seed + k if member_seeds is None else int(member_seeds[k])
        data = prepare_training_data(
            subset,
            features_col=features_col,
            label_col=label_col,
            weight_col=weight_col,
            num_workers=cfg.distributed.num_workers,
        )
        try:
            if inspect is not None:
                inspect(data.summary)
            require_trainable(data.summary, data.partition_rows, features_col, weight_col)
            names = names or [f"f{i}" for i in range(data.summary.width)]
            if warm_start is not None:
                model = copy_model(warm_start.members[k])
            else:
                model = build_model(cfg.model, len(names), seed)
                model.layer.layers[0].set_statistics(*(stats or data.summary.moments()))
                if cfg.model.encoding != "none" and (encoding is None or stats is None):
                    if sample is None or (stats is None and encoding_rows is None):
                        rows, known = subset, None
                        if encoding_rows is not None:
                            rows, known = encoding_rows, encoding_row_count
                        sample = feature_sample(
                            rows, features_col, label_col, seed=cfg.seed, rows=known
                        )
                    encoding = encoding_state(model, sample)  # per member without shared stats
                set_encoding(model, encoding)
        except BaseException:
            data.unpersist()
            raise
        ckpt = (
            str(Path(checkpoint_root) / f"member-{k:02d}")
            if checkpoint_root and cfg.checkpoint
            else None
        )
        dist = cfg.distributed.to_config(
            seed=seed,
            checkpoint_dir=ckpt,
            iterations=None if iterations is None else int(iterations[k]),
            epochs=None if warm_start is None else warm_start.passes,
            early_stopping=validation is not None,
            lr_decay="none" if warm_start is None else warm_start.decay,
        )
        if checkpoint_per_setup:  # DistributedConfig.checkpoint_per_setup
            dist = dataclasses.replace(dist, checkpoint_per_setup=True)
        logger.info("training ensemble member %d/%d", k + 1, len(subsets))
        optimizer = cfg.optimizer
        if warm_start is not None and warm_start.learning_rate_scale != 1.0:
            lr = cfg.optimizer.learning_rate * warm_start.learning_rate_scale
            optimizer = optimizer.model_copy(update={"learning_rate": lr})
        trainer = DistributedTrainer(
            model, build_loss(cfg.loss), build_optimizer(optimizer), dist, stage_timing=stage_timing
        )
        result = trainer.fit(
            data,
            features_col=features_col,
            label_col=label_col,
            weight_col=weight_col,
            validation_df=validation,
        )
        members.append(result.model)
        results.append(result)
        stage_timing = result.stage_timing or stage_timing
    metadata = {"members": len(members), "training": cfg.model_dump(mode="json")}
    return EnsembleTraining(
        FraudEnsemble(members, list(names or []), metadata),
        results,
        time.perf_counter() - t0,
        stage_timing,
    )


def _usable_validation(validation, cfg: TrainingSection, features_col, label_col, fixed: bool):
    """The collected validation set when early stopping applies (not with `fixed`, a refit's
    count), else None (with a warning when it cannot apply: a window without both classes)."""
    if validation is None or fixed or cfg.distributed.early_stopping is None:
        return None
    if not isinstance(validation, PartitionData):
        validation = collect_validation(
            validation,
            features_col=features_col,
            label_col=label_col,
            max_rows=cfg.distributed.early_stopping.max_rows,
            seed=cfg.seed,
        )
    positives = int((validation.y > 0.5).sum())
    if positives in (0, validation.rows):
        logger.warning(
            "early stopping is off for this run: the validation window has %d fraud(s) in %d "
            "rows and needs both classes; every member trains its full epochs",
            positives, validation.rows,
        )  # fmt: skip
        return None
    return validation


def evaluate_scores(
    labels: np.ndarray, scores: np.ndarray, *, alert_rates: Sequence[float] = (0.001, 0.01)
) -> dict[str, Any]:
    """Ranking quality of fraud scores: ROC AUC, average precision, and capture at alert budgets.

    recall_at_alert_X: share of all frauds among the top X share of transactions by score
    (what an investigations team with that alert budget would catch).
    """
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    out: dict[str, Any] = {
        "rows": len(labels),
        "frauds": int(labels.sum()),
        "roc_auc": roc_auc(labels, scores),
        "average_precision": average_precision(labels, scores),
    }
    order = np.argsort(-scores, kind="mergesort")
    for rate in alert_rates:
        k = max(1, round(rate * len(labels)))
        caught = labels[order[:k]].sum()
        out[f"recall_at_alert_{rate:g}"] = (
            float(caught / labels.sum()) if labels.sum() else float("nan")
        )
        out[f"precision_at_alert_{rate:g}"] = float(caught / k)
    return out
