"""Engine base: what every training engine shares (initial state, fingerprint, result, progress)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcore.losses import loss_to_config
from dlcore.model import Model
from dlcore.optimizers.base import Optimizer, optimizer_to_config
from dlcore.params import shard_bounds
from fraud_app.errors import TrainingDivergedError
from fraud_app.spark.checkpoint import TrainingState
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.data import ROWS_DEALT
from fraud_app.spark.early_stopping import EarlyStopper
from fraud_app.spark.planner import StageTiming

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaultInjection:
    """Kill the worker process of `rank` at global `iteration`, on the first attempt only (chaos tests)."""

    rank: int
    iteration: int


@dataclass
class TrainingResult:
    model: Model
    history: list[dict[str, Any]]
    iterations: int
    retries: int
    rows: int
    checkpoint_dir: str | None = None
    failures: list[str] = field(default_factory=list)
    # Early stopping (C7): the iteration of the best validation AP (the count a refit
    # uses), one record per evaluation, and whether the run stopped before its maximum.
    best_iteration: int | None = None
    validation: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    # what the grouped engine's planner measured (stage cost, seconds per iteration): the
    # next fit of the same ensemble plans its first stage from it (GroupPlanner prior)
    stage_timing: StageTiming | None = None


class Engine:
    """Base of the training engines: shared set-up and history bookkeeping."""

    def __init__(
        self,
        spark,
        model: Model,
        loss,
        optimizer: Optimizer,
        config: DistributedConfig,
        fault: FaultInjection | None,
    ) -> None:
        self.spark, self.sc = spark, spark.sparkContext
        self.model, self.loss, self.optimizer, self.config = model, loss, optimizer, config
        self.fault = fault
        # the training data's DataSummary.digest(), set by the trainer: a checkpoint of
        # other data (same row count, other labels or features) is never resumed
        self.data_digest = ""
        # and its DataSummary.content_digest: the rows themselves, one by one (the digest
        # holds counts and per-feature sums, blind to labels moved between rows)
        self.data_rows = ""
        self.stopper: EarlyStopper | None = None  # set by the trainer when early stopping is on
        # an earlier fit's planner measurement, set by the trainer (None: measure first)
        self.stage_timing: StageTiming | None = None
        self.run_id = uuid.uuid4().hex
        self.model_config = model.get_config()
        self.loss_config = loss_to_config(loss)
        self.optimizer_config = optimizer_to_config(optimizer)

    def setup(self, rows: int) -> dict[str, Any]:
        """Everything a checkpoint must share with this run to be resumed by it (JSON
        types): the fingerprint is its digest, and meta.json keeps it, so a refusal names
        what differs (setup_differences.setup_differences)."""
        c = self.config
        setup = {
            "model": self.model_config,
            "loss": self.loss_config,
            "optimizer": self.optimizer_config,
            "num_workers": c.num_workers,
            "global_batch_size": c.global_batch_size,
            "seed": c.seed,
            "shuffle": c.shuffle,
            "rows": rows,
            "data": self.data_digest,
            # a checkpoint of the same counts and sums but other rows (labels moved between
            # rows, a feature's values dealt to other rows) resumed silently until session 55
            "data_rows": self.data_rows,
            # the starting weights: a warm-start refit must not resume a fresh run's
            # checkpoint (or the other way round)
            "starting_weights": hashlib.sha256(self.model.params.data.tobytes()).hexdigest(),
            # these change what each step computes (a resume with mixup turned on, or
            # another gradient compression, continued the old run without a word)
            "mixup_alpha": c.mixup_alpha,
            "compression": c.compression,
            # the stopper's settings and validation rows: its state is resumed with the run
            "early_stopping": self._stopper_setup(),
            # how rows are dealt to the workers (fraud_app.spark.data.to_training_blocks):
            # a checkpoint's data positions point into the rows each worker held, and until
            # session 51 they were dealt in the input's partition order, not by content
            "rows_dealt": ROWS_DEALT,
        }
        return json.loads(json.dumps(setup))

    def _stopper_setup(self) -> dict[str, Any] | None:
        """The stopper's part of the setup. With `every_groups` its evaluation points are
        group boundaries, so the group size is part of it: a run resumed with another
        `group_size` evaluated at other iterations from the resume on (patience counted
        over a schedule neither run had) without a word. "auto" stays "auto" (its points
        follow the planner and are not reproducible, resumed or not)."""
        if self.stopper is None:
            return None
        setup = self.stopper.setup()
        if self.stopper.config.every_groups is not None:
            setup["group_size"] = self.config.group_size
        return setup

    def fingerprint(self, rows: int, setup: dict[str, Any] | None = None) -> str:
        """The digest of `setup` (None: this run's, `self.setup(rows)`)."""
        blob = json.dumps(self.setup(rows) if setup is None else setup, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def initial_state(self) -> TrainingState:
        n, world = self.model.params.size, self.config.num_workers
        opt_states = []
        for r in range(world):
            start, stop = shard_bounds(n, world, r)
            opt_states.append(self.optimizer.init_state(stop - start, self.model.dtype))
        return TrainingState(
            iteration=0,
            group=0,
            params=self.model.params.data.copy(),
            layer_state={k: v.copy() for k, v in self.model.layer.state().items()},
            opt_states=opt_states,
            positions=[(0, 0)] * world,
        )

    def finish(
        self, state: TrainingState, rows: int, retries: int, failures: list[str]
    ) -> TrainingResult:
        params, layer_state = state.params, state.layer_state
        stopper = self.stopper
        if stopper is not None:
            params, layer_state = stopper.final_weights(params, layer_state)
        self.model.load_weights(params, layer_state)
        return TrainingResult(
            self.model,
            state.history,
            state.iteration,
            retries,
            rows,
            self.config.checkpoint_dir,
            failures,
            best_iteration=stopper.best_iteration if stopper else None,
            validation=list(stopper.records) if stopper else [],
            stopped_early=bool(stopper and stopper.stopped),
        )

    def stopped(self) -> bool:
        return self.stopper is not None and self.stopper.stopped

    def maybe_evaluate(self, entry: dict[str, Any], params, layer_state) -> None:
        """Evaluate on the validation set when the boundary at the end of `entry` is due."""
        stopper = self.stopper
        group = entry["group"] + 1
        if stopper is not None and stopper.due(entry["end_iteration"], group):
            record = stopper.evaluate(entry["end_iteration"], group, params, layer_state)
            entry["validation_average_precision"] = record["average_precision"]

    def run(self, blocks, rows: int) -> TrainingResult:
        raise NotImplementedError


# where a divergence can begin within one iteration, in order (fraud_app.spark.worker)
_STAGES = ("nonfinite_grad_at", "nonfinite_sum_at", "nonfinite_weights_at")
_ADVICE = (
    "Lower the learning rate (training.optimizer.learning_rate), clip the gradients "
    "(training.optimizer.clip_norm) or check the scale of the features and weights"
)


def divergence_origin(
    metas: Sequence[Mapping[str, Any]], compression: str | None
) -> tuple[int | None, str, str]:
    """(first iteration, which rank(s) and what went first, advice) from the ranks' group
    reports (`metas[r]`: rank r's; `nonfinite_loss_at`, the `_STAGES` and `wire_compression`,
    the compression the sum really went through, which `compression`, the configured one,
    stands in for in an older worker's); (None, "", the general advice) where the reports
    hold none (an older worker, weights bad before)."""
    keys = []
    for rank, meta in enumerate(metas):
        own = [meta.get(k) for k in ("nonfinite_loss_at", "nonfinite_grad_at")]
        stages = [min((i for i in own if i is not None), default=None)]
        stages += [meta.get(k) for k in _STAGES[1:]]
        keys += [(at, stage, rank) for stage, at in enumerate(stages) if at is not None]
    if not keys:
        return None, "", _ADVICE
    at, stage = min(keys)[:2]
    ranks = [r for i, s, r in keys if (i, s) == (at, stage)]
    who = f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {', '.join(map(str, ranks))}"
    if stage == 0 and len(ranks) == len(metas) > 1:  # most often finite but huge weights
        why = (
            "it began on every rank at once: their own losses or gradients were NaN or "
            f"infinite at iteration {at}, from finite weights"
        )
        return at, why, _ADVICE
    if stage == 0 and len(metas) == 1:  # one worker: no rank to single out (review48c)
        why = (
            f"it began in the loss or gradient of iteration {at} (one worker), from finite weights"
        )
        return at, why, _ADVICE
    if stage == 0:
        why = (
            f"it began on {who}: its own loss or gradient was NaN or infinite at iteration "
            f"{at}, before the sum over the ranks"
        )
        return at, why, _ADVICE + f" (the rows of {who}'s partition at that iteration)"
    if stage == 2:
        why = (
            f"it began in the optimizer step of iteration {at}: the gradients and their sum "
            "were finite on every rank, the weights after the step were not (an update too "
            "large for float32)"
        )
        return at, why, _ADVICE
    why = (
        f"it began in the sum over the ranks at iteration {at}: every rank's own gradient "
        f"was finite, the sum {who} received was not"
    )
    # what the sum went through (the ranks' reports; an older worker's: the configured one):
    # shared memory on one host sums float32 whatever training.distributed.compression says
    wires = {metas[r].get("wire_compression", compression) for r in ranks}
    if "fp16" not in wires:
        unused = (
            "; fp16 compression did not apply: the ranks summed in shared memory, in float32"
            if compression == "fp16"
            else ""
        )
        return at, why + f" (past float32's range{unused})", _ADVICE
    advice = (
        "Set training.distributed.compression to bf16 (float32's range) or null; clip_norm "
        "cannot help, it clips the sum after it arrived. Or scale the features down "
        "(gradients grow with them)"
    )
    return at, why + " (fp16 on the wire holds nothing above 65504)", advice


def check_finite(
    entry: dict[str, Any],
    arrays: dict[str, np.ndarray],
    first_bad: int | None = None,
    *,
    metas: Sequence[Mapping[str, Any]] = (),
    compression: str | None = None,
) -> None:
    """A group whose loss or weights are NaN or infinite stops training before it is
    committed: no evaluation, checkpoint or model of it (a silently NaN model was
    returned, and registered when checkpoints were off). `first_bad`: the first iteration
    whose loss was not finite, when the workers know it; `metas`: the ranks' group
    reports, so the error names the rank and the stage where it began (divergence_origin:
    it named no rank, and an fp16 overflow on the wire read as a learning rate too high)."""
    loss = entry["loss"]
    bad = {k: int(v.size - np.count_nonzero(np.isfinite(v))) for k, v in arrays.items()}
    bad = {k: n for k, n in bad.items() if n}
    if math.isfinite(loss) and not bad:
        return
    what = [] if math.isfinite(loss) else [f"the loss is {loss}"]
    what += [f"{n} of {arrays[k].size} values of {k!r} are NaN or infinite" for k, n in bad.items()]
    began, origin, advice = divergence_origin(metas, compression)
    first_bad = began if began is not None else first_bad
    at = f", first at iteration {first_bad}" if first_bad is not None else ""
    origin = f"; {origin}" if origin else ""
    raise TrainingDivergedError(
        f"training diverged in group {entry['group']} (iterations {entry['start_iteration']}-"
        f"{entry['end_iteration']}{at}): {'; '.join(what)}{origin}. Nothing of this group is "
        f"kept (the last committed state, iteration {entry['start_iteration']}, is finite). "
        f"{advice}"
    )


def log_progress(entry: dict[str, Any], total: int) -> None:
    logger.info(
        "group %d: iterations %d-%d/%d loss %.5f | %.0f samples/s | compute %.0f%% sync %.0f%% scheduling %.0f%% (G=%d)",
        entry["group"],
        entry["start_iteration"],
        entry["end_iteration"],
        total,
        entry["loss"],
        entry["samples_per_s"],
        100 * entry["compute_share"],
        100 * entry["sync_share"],
        100 * entry["scheduling_share"],
        entry["iterations"],
    )
