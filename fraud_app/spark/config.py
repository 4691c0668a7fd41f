"""Settings of a distributed training run (plain frozen dataclass; the YAML section maps onto it)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fraud_app.errors import ConfigError
from fraud_app.spark.early_stopping import EarlyStoppingConfig

ENGINES = ("grouped", "per_iteration")


@dataclass(frozen=True)
class DistributedConfig:
    """How to train one model data-parallel on Spark.

    num_workers: model replicas = barrier tasks (each needs spark.task.cpus cores).
    global_batch_size: samples per iteration over all workers (split evenly).
    iterations: total optimizer steps; or set epochs (passes over the data) instead:
        ceil(epochs x rows / global_batch_size) steps. Each worker walks its own share of
        the rows, and the shares differ by up to num_workers rows (to_training_blocks), so
        a worker with fewer rows starts its next pass over them sooner.
    group_size: iterations per group (the unit of progress lines, checkpoints and
        recovery), or "auto": long enough that a stage's launch + set-up +
        rendezvous would stay under `auto_overhead_target` of ONE group.
    max_group_size: the most iterations "auto" puts in one group (2000).
    stage_groups: groups one barrier stage runs back to back (Drizzle's group
        scheduling: Spark schedules the stage once), or "auto": enough groups that
        the stage's fixed cost stays under 0.5 % of the stage. 1 = a Spark job per
        group (the classic design, for comparison).
    engine: "grouped" (ours) or "per_iteration" (one Spark job per step, gradients
        summed through the driver with treeAggregate; the Spark MLlib pattern).
    max_retries: a failed stage is retried from the last committed group this many times
        in a row without progress. checkpoint_dir: group checkpoints (None = none).
    seed: batch order and dropout streams. shuffle: each epoch visits a worker's rows in a
        seeded permuted order (False: in partition order). compression: None, "bf16" or
        "fp16" gradients on the wire; topology: "auto" | "flat" | "hierarchical".
    ring_interface: the network interface whose address every worker advertises to its
        ring neighbours (None: SPARK_LOCAL_IP of its executor, else the executor's
        address as Spark knows it); for hosts with several networks.
    base_batch_size / warmup_iterations: linear scaling rule + gradual warm-up
        (Goyal et al. 2017) applied when scale_lr is true.
    connect_timeout_s / op_timeout_s: deadlines for the rendezvous + connections and
        for one collective call without progress (no byte moved; it must cover the
        slowest rank's iteration; a slow link that keeps moving never trips it).
    stage_start_timeout_s: how long a stage may wait for all its barrier tasks to start
        (free task slots on a busy cluster) before it counts as failed.
    early_stopping: None (off: train exactly iterations/epochs) or an EarlyStoppingConfig
        (then iterations/epochs is the maximum; `fit` needs a validation set).
    lr_decay: "none", or "cosine": after the warm-up the learning rate decays to 0 at the
        last iteration (Loshchilov & Hutter 2017; a warm-start refit uses it).
    mixup_alpha: > 0 trains on mixup batches (dlcore.training.mixup: each worker mixes its
        local batch with a permutation of itself, weights ~ Beta(alpha, alpha), drawn from
        (seed, rank, iteration)); 0 = off. The labels become soft: use a bce loss.
    checkpoint_per_setup: the checkpoints live in `checkpoint_dir/setup-<fingerprint>`, one
        directory per training setup (model, loss, optimizer, workers, batch, seed, starting
        weights, the data's digest): fits of other data or parameters that share a
        checkpoint_dir (a CrossValidator's folds and param maps) each resume only their
        own. False (`fraud-app train --run`): checkpoint_dir holds one setup, and a
        checkpoint of another one there is refused.
    encoded_rows_max_bytes: the grouped engine's workers run the model's leading row-wise
        layers (standardisation, input encoding) once over their partition and keep the
        result (dlcore.fixed_input.EncodedRows) when it fits in this many bytes per
        worker; each step then runs only the layers after them, with the same bits.
        0 = every batch goes through the whole model.
    """

    num_workers: int = 2
    global_batch_size: int = 1024
    iterations: int | None = None
    epochs: float | None = 1.0
    group_size: int | str = "auto"
    stage_groups: int | str = "auto"
    auto_overhead_target: float = 0.05
    max_group_size: int = 2000
    engine: str = "grouped"
    max_retries: int = 3
    checkpoint_dir: str | None = None
    checkpoint_per_setup: bool = False
    seed: int = 0
    shuffle: bool = True
    compression: str | None = None
    topology: str = "auto"  # auto | flat | hierarchical (dlcore.collective.CommConfig)
    ring_interface: str | None = None  # CommConfig.advertise_interface of every worker
    scale_lr: bool = True
    base_batch_size: int = 256
    warmup_iterations: int = 50
    connect_timeout_s: float = 60.0
    op_timeout_s: float = 120.0
    stage_start_timeout_s: float = 600.0
    early_stopping: EarlyStoppingConfig | None = None
    lr_decay: str = "none"
    mixup_alpha: float = 0.0
    encoded_rows_max_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        # in this order: the first field wrong is the one an error names
        self._check_batch()
        self._check_run_length()
        self._check_engine()
        self._check_learning()
        self._check_communication()
        self._check_auto_overhead()

    def _check_batch(self) -> None:
        """Workers and the global batch: every worker gets the same local batch."""
        _int_at_least("num_workers", self.num_workers, 1)
        _int_at_least("global_batch_size", self.global_batch_size, self.num_workers)
        if self.global_batch_size % self.num_workers:
            raise ConfigError(
                f"training.distributed.global_batch_size ({self.global_batch_size}) must be "
                f"divisible by training.distributed.num_workers ({self.num_workers}) so every "
                "worker gets the same local batch"
            )

    def _check_run_length(self) -> None:
        """Exactly one of iterations or epochs, and the group and stage sizes."""
        if (self.iterations is None) == (self.epochs is None):
            raise ConfigError("training.distributed: set exactly one of iterations or epochs")
        if self.iterations is not None:
            _int_at_least("iterations", self.iterations, 1)
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ConfigError(f"training.distributed.epochs must be > 0. Received: {self.epochs!r}")
        if self.group_size != "auto":
            _int_at_least("group_size", self.group_size, 1)
        if self.stage_groups != "auto":
            _int_at_least("stage_groups", self.stage_groups, 1)

    def _check_engine(self) -> None:
        """The engine, its retries and the encoded rows' memory bound."""
        if self.engine not in ENGINES:
            raise ConfigError(
                f"training.distributed.engine must be one of {ENGINES}. Received: {self.engine!r}"
            )
        _int_at_least("max_retries", self.max_retries, 0)
        _int_at_least("encoded_rows_max_bytes", self.encoded_rows_max_bytes, 0)

    def _check_learning(self) -> None:
        """The learning-rate decay and mixup."""
        if self.lr_decay not in ("none", "cosine"):
            raise ConfigError(
                f"DistributedConfig.lr_decay must be 'none' or 'cosine'. Received: {self.lr_decay!r}"
            )
        if isinstance(self.mixup_alpha, bool) or not (
            isinstance(self.mixup_alpha, int | float)
            and math.isfinite(self.mixup_alpha)
            and self.mixup_alpha >= 0
        ):
            raise ConfigError(
                f"training.distributed.mixup_alpha must be a finite number >= 0. Received: {self.mixup_alpha!r}"
            )

    def _check_communication(self) -> None:
        """The gradients' wire format, the topology, the ring's interface and the deadlines."""
        ring = self.ring_interface
        if ring is not None and not (
            isinstance(ring, str) and 0 < len(ring) <= 15 and not set(ring) & set(" \t/:")
        ):
            raise ConfigError(
                "training.distributed.ring_interface must be null or a network interface name "
                f"such as 'eth1' (1-15 characters, no spaces, '/' or ':'). Received: {ring!r}"
            )
        if self.compression not in (None, "bf16", "fp16"):
            raise ConfigError(
                f"training.distributed.compression must be null, 'bf16' or 'fp16'. Received: {self.compression!r}"
            )
        if self.topology not in ("auto", "flat", "hierarchical"):
            raise ConfigError(
                "training.distributed.topology must be 'auto', 'flat' or 'hierarchical'. "
                f"Received: {self.topology!r}"
            )
        for name in ("connect_timeout_s", "op_timeout_s", "stage_start_timeout_s"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and value > 0)
            ):
                raise ConfigError(
                    f"training.distributed.{name} must be a finite number of seconds > 0. Received: {value!r}"
                )

    def _check_auto_overhead(self) -> None:
        """The stage overhead "auto" group sizes aim at."""
        if not 0 < self.auto_overhead_target < 1:
            raise ConfigError(
                f"DistributedConfig.auto_overhead_target must be in (0, 1). Received: {self.auto_overhead_target!r}"
            )

    @property
    def local_batch_size(self) -> int:
        return self.global_batch_size // self.num_workers

    def total_iterations(self, total_rows: int) -> int:
        if self.iterations is not None:
            return self.iterations
        return max(1, math.ceil(self.epochs * total_rows / self.global_batch_size))


def _int_at_least(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"training.distributed.{name} must be an integer >= {minimum}. Received: {value!r}"
        )
