"""Train a FraudEnsemble on Spark: one distributed dlcore model per balanced subset.

Owns: the member loop (each member trained by DistributedTrainer on its subset, with its
own checkpoint directory and seed), the settings it takes (TrainingInputs, MemberPlan,
Checkpoints) and refit plans.
Does not own: the ranking figures of scores (fraud_app.models.scores.evaluate_scores;
re-exported here), what the input layers are fitted on (fraud_app.models.input_fit: feature
statistics and the encoding's sample; re-exported here), balancing
(fraud_app.balancing builds the subsets) or scoring.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.constant_inputs import fold_constant_inputs
from fraud_app.errors import ConfigError
from fraud_app.models.builders import build_loss, build_model, build_optimizer
from fraud_app.models.collapse import lr_settings, require_varied_scores
from fraud_app.models.config import RefitSection, TrainingSection
from fraud_app.models.ensemble import FraudEnsemble

# re-exported: notebooks, benches and tests import them from here
from fraud_app.models.input_fit import ENCODING_SAMPLE_ROWS as ENCODING_SAMPLE_ROWS
from fraud_app.models.input_fit import encoding_state, feature_sample, set_encoding
from fraud_app.models.input_fit import feature_statistics as feature_statistics
from fraud_app.models.input_fit import sample_fraction as sample_fraction
from fraud_app.models.scores import evaluate_scores as evaluate_scores
from fraud_app.spark.data import PartitionData
from fraud_app.spark.planner import StageTiming
from fraud_app.spark.summary import DataSummary, require_trainable
from fraud_app.spark.trainer import DistributedTrainer, TrainingResult, prepare_training_data
from fraud_app.spark.validation_rows import collect_validation

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Columns:
    """The DataFrame columns training reads (weight: a per-row loss weight, or None)."""

    features: str = "features"
    label: str = "label"
    weight: str | None = None


@dataclass(frozen=True)
class EncodingRows:
    """The rows the input encoding's quantile bins are fitted on (cfg.model.encoding; the
    whole training window). row_count: their count when the caller knows it (the time
    splits count every window), which spares a Spark count; sample:
    `feature_sample(rows, ..., seed=cfg.seed)` drawn already (the train step's feature
    check draws it in its pass), which spares that pass."""

    rows: Any  # a DataFrame
    row_count: int | None = None
    sample: np.ndarray | None = None


@dataclass(frozen=True)
class TrainingInputs:
    """What every member reads besides its subset.

    feature_names: None = f0, f1, ... for the width the data pass finds.
    stats: the (mean, std) for every member's Standardize layer; None = each member's own
    training data's, read from the summary of the trainer's data pass (no extra Spark job).
    validation: the (unbalanced) validation window, a DataFrame or collected PartitionData;
    with cfg.distributed.early_stopping each member stops on its AP (collected once here).
    encoding: what the input encoding is fitted on; None = the first subset.
    inspect: called with each member's DataSummary before its model is built (input
    checks that raise; the Spark ML estimators pass theirs).
    """

    feature_names: Sequence[str] | None
    stats: tuple[np.ndarray, np.ndarray] | None
    columns: Columns = Columns()
    validation: Any = None
    encoding: EncodingRows | None = None
    inspect: Callable[[DataSummary], None] | None = None


@dataclass(frozen=True)
class MemberPlan:
    """How each member trains besides the config.

    seeds: one seed per member (initial weights, dropout, batch order); None = cfg.seed + k.
    iterations: one fixed iteration count per member (a fresh refit); turns early
    stopping off.
    warm_start: a warm-start refit (WarmStart): member k continues from its model for its
    passes; TrainingInputs.stats and .encoding are then not used. Turns early stopping off.
    stage_timing: an earlier fit's planner measurement (EnsembleTraining.stage_timing of
    the members, for their refit). Each member passes its own on to the next, so only
    the first fit of a process spends a stage measuring (auto group sizes); group and
    stage sizes change no result.
    """

    seeds: Sequence[int] | None = None
    iterations: Sequence[int] | None = None
    warm_start: WarmStart | None = None
    stage_timing: StageTiming | None = None

    @property
    def fixed(self) -> bool:
        """A fixed length per member (a refit): early stopping does not apply."""
        return self.iterations is not None or self.warm_start is not None

    def check(self, members: int) -> None:
        """One value per member in each per-member list."""
        if self.iterations is not None and len(self.iterations) != members:
            raise ConfigError(
                f"refit needs one iteration count per member: {len(self.iterations)} for {members} subsets"
            )
        if self.seeds is not None and len(self.seeds) != members:
            raise ConfigError(
                f"member_seeds needs one seed per member: {len(self.seeds)} for {members} subsets"
            )
        if self.warm_start is not None and len(self.warm_start.members) != members:
            raise ConfigError(
                f"a warm-start refit needs one model per member: {len(self.warm_start.members)} for "
                f"{members} subsets"
            )

    def seed(self, cfg: TrainingSection, k: int) -> int:
        return cfg.seed + k if self.seeds is None else int(self.seeds[k])

    def distributed(self, cfg: TrainingSection, k: int, seed: int, checkpoint_dir, stopping: bool):
        """Member k's DistributedConfig."""
        warm = self.warm_start
        return cfg.distributed.to_config(
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            iterations=None if self.iterations is None else int(self.iterations[k]),
            epochs=None if warm is None else warm.passes,
            early_stopping=stopping,
            lr_decay="none" if warm is None else warm.decay,
        )

    def optimizer(self, cfg: TrainingSection):
        """cfg.optimizer, its learning rate scaled for a warm start."""
        warm = self.warm_start
        if warm is None or warm.learning_rate_scale == 1.0:
            return cfg.optimizer
        lr = cfg.optimizer.learning_rate * warm.learning_rate_scale
        return cfg.optimizer.model_copy(update={"learning_rate": lr})


@dataclass(frozen=True)
class Checkpoints:
    """Where the members checkpoint: `root/member-KK` (with cfg.checkpoint); per_setup: in
    a subdirectory per training setup (DistributedConfig.checkpoint_per_setup; the Spark
    ML estimators' checkpointDir)."""

    root: str | Path | None = None
    per_setup: bool = False

    def member_dir(self, cfg: TrainingSection, k: int) -> str | None:
        return str(Path(self.root) / f"member-{k:02d}") if self.root and cfg.checkpoint else None


def train_ensemble(
    subsets: Sequence,
    cfg: TrainingSection,
    inputs: TrainingInputs,
    *,
    plan: MemberPlan = MemberPlan(),
    checkpoints: Checkpoints = Checkpoints(),
) -> EnsembleTraining:
    """Train len(subsets) members; member k sees subset k and seed cfg.seed + k (unless
    plan.seeds), its input layers fitted as `inputs` says and its length set by `plan`."""
    t0 = time.perf_counter()
    plan.check(len(subsets))
    validation = _usable_validation(inputs.validation, cfg, inputs.columns, plan.fixed)
    members = _Members(cfg, inputs, plan, checkpoints, validation)
    for k, subset in enumerate(subsets):
        members.train(k, subset, len(subsets))
    return EnsembleTraining(
        members.ensemble(), members.results, time.perf_counter() - t0, members.stage_timing
    )


class _Members:
    """train_ensemble's member loop and the state its members share: the feature names
    (from the first member's data when not given), the input encoding's sample and bins
    (shared when the statistics are), and the planner measurement passed from member to
    member."""

    def __init__(self, cfg, inputs: TrainingInputs, plan: MemberPlan, checkpoints, validation):
        self.cfg, self.inputs, self.plan, self.checkpoints = cfg, inputs, plan, checkpoints
        self.validation = validation
        names = inputs.feature_names
        self.names = list(names) if names is not None else None
        self.encoding: dict[str, np.ndarray] | None = None
        self.sample = inputs.encoding.sample if inputs.encoding is not None else None
        self.stage_timing = plan.stage_timing
        self.results: list[TrainingResult] = []

    def train(self, k: int, subset, members: int) -> None:
        cols = self.inputs.columns
        seed = self.plan.seed(self.cfg, k)
        data = prepare_training_data(
            subset,
            features_col=cols.features,
            label_col=cols.label,
            weight_col=cols.weight,
            num_workers=self.cfg.distributed.num_workers,
        )
        try:  # fit releases the data's blocks however it ends; until then, this does
            model = self._model(k, subset, data, seed)
            trainer = self._trainer(k, members, model, seed)
        except BaseException:
            data.unpersist()
            raise
        result = trainer.fit(
            data,
            features_col=cols.features,
            label_col=cols.label,
            weight_col=cols.weight,
            validation_df=self.validation,
        )
        folded = self._fold_constants(k, result.model, data.summary)
        rate = lr_settings(self.cfg.optimizer, self.plan.warm_start)
        rows = self._check_rows()
        require_varied_scores(k, result.model, rows, rate, folded)
        self.results.append(result)
        self.stage_timing = result.stage_timing or self.stage_timing

    def _model(self, k: int, subset, data, seed: int):
        """Member k's model: checked data, then a copy (warm start) or a new model with
        its Standardize statistics and input-encoding bins."""
        cols, stats = self.inputs.columns, self.inputs.stats
        if self.inputs.inspect is not None:
            self.inputs.inspect(data.summary)
        require_trainable(data.summary, data.partition_rows, cols.features, cols.weight)
        self.names = self.names or [f"f{i}" for i in range(data.summary.width)]
        if self.plan.warm_start is not None:
            return copy_model(self.plan.warm_start.members[k])
        model = build_model(self.cfg.model, len(self.names), seed)
        model.layer.layers[0].set_statistics(*(stats or data.summary.moments()))
        if self.cfg.model.encoding != "none" and (self.encoding is None or stats is None):
            # per member without shared stats
            self.encoding = encoding_state(model, self._sample(subset))
        set_encoding(model, self.encoding)
        return model

    def _sample(self, subset) -> np.ndarray:
        """The rows the input encoding is fitted on: drawn once from TrainingInputs.encoding,
        or from each member's subset without it and without shared statistics."""
        enc, cols = self.inputs.encoding, self.inputs.columns
        if self.sample is None or (self.inputs.stats is None and enc is None):
            rows, known = (subset, None) if enc is None else (enc.rows, enc.row_count)
            self.sample = feature_sample(
                rows, cols.features, cols.label, seed=self.cfg.seed, rows=known
            )
        return self.sample

    def _check_rows(self) -> np.ndarray:
        """Rows to tell a collapsed member by: the encoding's sample, else validation rows,
        else none (no verdict). Not a sample of the subset: that was a Spark job of its own
        (the estimator's fit ran one job more than the trainer it wraps), and rows drawn
        from the data pass's moments told a different model than the data (lead46)."""
        if self.sample is not None:
            return self.sample
        if self.validation is not None:
            return self.validation.X[:ENCODING_SAMPLE_ROWS]
        return np.zeros((0, 0))

    def _fold_constants(self, k: int, model, summary: DataSummary) -> list[int]:
        """A feature that held one value in every row member k trained on: its untrained
        first-layer weights folded into the bias (dlcore.constant_inputs), so a value it
        takes when scored moves neither the score nor the reasons. Returns those folded."""
        values = summary.constant_values()
        folded = fold_constant_inputs(model, values) if values is not None else []
        if folded:
            names = self.names or []
            logger.info(
                "member %d: %d feature(s) held one value in its training data %s; they "
                "do not move its scores (their first-layer weights folded into the bias)",
                k, len(folded), [names[j] if j < len(names) else f"f{j}" for j in folded],
            )  # fmt: skip
        return folded

    def _trainer(self, k: int, members: int, model, seed: int) -> DistributedTrainer:
        cfg, plan = self.cfg, self.plan
        ckpt = self.checkpoints.member_dir(cfg, k)
        dist = plan.distributed(cfg, k, seed, ckpt, self.validation is not None)
        if self.checkpoints.per_setup:  # DistributedConfig.checkpoint_per_setup
            dist = dataclasses.replace(dist, checkpoint_per_setup=True)
        logger.info("training ensemble member %d/%d", k + 1, members)
        loss, optimizer = build_loss(cfg.loss), build_optimizer(plan.optimizer(cfg))
        return DistributedTrainer(model, loss, optimizer, dist, stage_timing=self.stage_timing)

    def ensemble(self) -> FraudEnsemble:
        members = [r.model for r in self.results]
        metadata = {"members": len(members), "training": self.cfg.model_dump(mode="json")}
        return FraudEnsemble(members, list(self.names or []), metadata)


def _usable_validation(validation, cfg: TrainingSection, columns: Columns, fixed: bool):
    """The collected validation set when early stopping applies (not with `fixed`, a refit's
    count), else None (with a warning when it cannot apply: a window without both classes)."""
    if validation is None or fixed or cfg.distributed.early_stopping is None:
        return None
    if not isinstance(validation, PartitionData):
        validation = collect_validation(
            validation,
            features_col=columns.features,
            label_col=columns.label,
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
