"""ShardedStep: the data-parallel parameter manager (BigDL's AllReduceParameter).

Owns one distributed optimizer step on a ParamBuffer:

    1. reduce-scatter params.grad: rank r receives the SUM over ranks of the gradient
       slice it owns, shard_bounds(size, world_size, r);
    2. optimizer.step on that slice only; the ShardContext's reduce_sum is the
       communicator's all_reduce_small, so clipping and LARS see global norms;
    3. all-gather params.data: every rank ends with the full updated weights.

Optimizer state (momentum, Adam moments) exists for the owned slice only, so it is
sharded, never replicated; `state`, `start` and `stop` let a checkpoint save each
rank's shard. Does not own the forward/backward pass, the data, the loss scaling
policy (pass `grad_scale`, e.g. 1 / global batch size) or the retry after failure.

Gradients are summed, not averaged. `params.grad` is scratch after a step (only the
owned slice holds the reduced gradient); zero it before the next backward pass.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from dlcore.collective.communicator import Communicator
from dlcore.errors import ConfigError, ShapeError
from dlcore.optimizers.base import Optimizer, OptimizerState, ShardContext
from dlcore.params import ParamBuffer


@dataclass(frozen=True)
class StepTimings:
    """Wall-clock seconds of the last step's phases; sync = the two collectives."""

    reduce_scatter_s: float
    optimizer_s: float
    all_gather_s: float

    @property
    def sync_s(self) -> float:
        return self.reduce_scatter_s + self.all_gather_s


class ShardedStep:
    """Sharded optimizer step for one rank. Every rank builds one with the same layout."""

    def __init__(
        self,
        comm: Communicator,
        optimizer: Optimizer,
        params: ParamBuffer,
        *,
        grad_compression: str | None = None,
    ) -> None:
        self.comm = comm
        self.optimizer = optimizer
        self.size = params.size
        self.grad_compression = grad_compression
        self.start, self.stop = comm.shard_bounds(self.size)
        self.shard = ShardContext.for_params(
            params, self.start, self.stop, reduce_sum=comm.all_reduce_small
        )
        self.state: OptimizerState = optimizer.init_state(self.stop - self.start)
        self.last_timings: StepTimings | None = None
        # Whether the last step's (own gradient, summed slice received, owned weights after it)
        # were finite: where a divergence began. A sum that is not finite though every
        # rank's own gradient was is an overflow on the wire (fp16 compression holds
        # nothing above 65504), which clip_norm, applied to the sum, cannot prevent.
        self.last_finite: tuple[bool, bool, bool] = (True, True, True)
        # The compression the last step's gradient sum really went through: None on shared
        # memory (exact float32) whatever `grad_compression` says (Communicator.wire_compression).
        self.last_wire_compression = comm.wire_compression(grad_compression)
        self.total_sync_s = 0.0
        self.steps = 0
        self._check_same_layout()

    def _check_same_layout(self) -> None:
        n, rank = self.comm.world_size, self.comm.rank
        mine = np.zeros(n, dtype=np.float64)
        mine[rank] = self.size
        sizes = self.comm.all_reduce_small(mine)  # one entry per rank, exact below 2**53
        if np.any(sizes != self.size):
            raise ConfigError(
                f"rank {rank}: ranks disagree on the parameter vector length: "
                f"{sizes.astype(np.int64).tolist()} (by rank); every rank must build the same model"
            )

    @property
    def bounds(self) -> tuple[int, int]:
        """[start, stop) of the full parameter vector this rank updates and checkpoints."""
        return self.start, self.stop

    def step(self, params: ParamBuffer, grad_scale: float = 1.0) -> StepTimings:
        """Reduce-scatter grads, update the owned slice, all-gather weights."""
        if params.size != self.size:
            raise ShapeError(
                f"ShardedStep was built for {self.size} parameters. Received a buffer of "
                f"{params.size}"
            )
        if not (isinstance(grad_scale, int | float) and math.isfinite(grad_scale)):
            raise ConfigError(f"grad_scale must be a finite number. Received: {grad_scale!r}")
        t0 = time.perf_counter()
        own_finite = bool(np.isfinite(params.grad).all())  # reduce_scatter overwrites it
        grad = self.comm.reduce_scatter(params.grad, compression=self.grad_compression)
        sum_finite = bool(np.isfinite(grad).all())
        self.last_wire_compression = self.comm.wire_compression(self.grad_compression)
        if grad_scale != 1.0:
            grad *= np.float32(grad_scale)
        t1 = time.perf_counter()
        owned = params.data[self.start : self.stop]
        self.optimizer.step(owned, grad, self.state, self.shard)
        # the owned slice only: a slice that went bad is reported by the rank that owns it
        self.last_finite = (own_finite, sum_finite, bool(np.isfinite(owned).all()))
        t2 = time.perf_counter()
        self.comm.all_gather(params.data)  # weights always travel uncompressed
        t3 = time.perf_counter()
        self.last_timings = StepTimings(t1 - t0, t2 - t1, t3 - t2)
        self.total_sync_s += self.last_timings.sync_s
        self.steps += 1
        return self.last_timings

    def load_state(self, state: OptimizerState) -> None:
        """Restore this rank's shard of the optimizer state (e.g. from a checkpoint)."""
        length = self.stop - self.start
        for name, slot in state.slots.items():
            if np.shape(slot) != (length,):
                raise ShapeError(
                    f"optimizer slot {name!r} has shape {np.shape(slot)}, but rank "
                    f"{self.comm.rank} owns {length} parameters [{self.start}, {self.stop})"
                )
        self.state = state
