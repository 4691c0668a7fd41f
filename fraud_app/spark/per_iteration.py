"""PerIterationEngine: one Spark job per iteration, gradients summed through the driver.

The Spark MLlib pattern, kept as a comparison engine for benchmarks: each
iteration broadcasts the weights, every partition computes the gradient of its
local batch, `treeAggregate` sums gradients and loss back to the driver, and
the driver runs the optimizer on the whole vector. The batches are the ones
the grouped engine would use (same cursors), so both engines reach the same
weights; the difference is purely scheduling and where the sum happens.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from dlcore.backends import get_ops, use_backend
from dlcore.losses import loss_from_config
from dlcore.model import Model
from dlcore.optimizers.base import ShardContext
from dlcore.training.mixup import mixup_batch, mixup_rng
from fraud_app.spark.cursor import CursorPosition, DataCursor
from fraud_app.spark.data import partition_data
from fraud_app.spark.engine_base import Engine, TrainingResult, check_finite, log_progress
from fraud_app.spark.worker import random_layers

logger = logging.getLogger(__name__)


def _partition_gradient(
    run_id,
    model_config,
    loss_config,
    params_bc,
    iteration,
    local_batch,
    global_batch,
    seed,
    shuffle,
    backend,
    mixup_alpha=0.0,
):
    def compute(index, blocks):
        use_backend(backend)  # the driver's choice, as in the grouped engine
        data, _ = partition_data(run_id, index, blocks)
        model = Model.from_config(model_config)
        model.params.set_data(params_bc.value)
        consumed = iteration * local_batch
        cursor = DataCursor(
            data,
            seed=seed,
            rank=index,
            shuffle=shuffle,
            position=CursorPosition(consumed // data.rows, consumed % data.rows),
        )
        for layer in random_layers(model.layer):  # same masks as the grouped engine
            layer.reseed([seed, index, iteration])
        X, y, w = cursor.next_batch(local_batch)
        if mixup_alpha > 0:  # the same mix as the grouped engine's
            X, y, w = mixup_batch(X, y, w, mixup_alpha, mixup_rng(seed, index, iteration))
        logits, backprop = model.forward(X, training=True)
        value, dlogits = loss_from_config(loss_config)(logits, y, w, denominator=global_batch)
        backprop(dlogits)
        yield model.params.grad.astype(np.float64), float(value)

    return compute


def _add(a, b):
    return a[0] + b[0], a[1] + b[1]


class PerIterationEngine(Engine):
    def run(self, blocks, rows: int) -> TrainingResult:
        cfg = self.config
        total = cfg.total_iterations(rows)
        state = self.initial_state()
        params = self.model.params
        opt_state = self.optimizer.init_state(params.size, self.model.dtype)
        zero = (np.zeros(params.size, np.float64), 0.0)
        shard = ShardContext.for_params(params)
        t_group, loss_group, start = time.perf_counter(), 0.0, 0
        for it in range(total):
            grad, value = self._gradient(blocks, it, zero)
            params.grad[...] = grad
            self.optimizer.step(params.data, params.grad, opt_state, shard)
            step = {"group": len(state.history), "start_iteration": start, "end_iteration": it + 1}
            check_finite({**step, "loss": value}, {"params": params.data}, it)
            loss_group += value
            boundary = (it + 1) % 50 == 0 or it + 1 == total
            self._evaluate(it + 1, len(state.history) + 1 if boundary else None, state)
            if boundary or self.stopped():
                wall = time.perf_counter() - t_group
                entry = _history_entry(len(state.history), start, it + 1, loss_group, wall, cfg)
                state.history.append(entry)
                log_progress(entry, total)
                t_group, loss_group, start = time.perf_counter(), 0.0, it + 1
            if self.stopped():
                break
        state.params = params.data.copy()
        state.iteration = it + 1
        return self.finish(state, rows, 0, [])

    def _gradient(self, blocks, it: int, zero):
        """(the gradient summed over every worker's local batch, the loss) of iteration
        `it`, at the current weights (broadcast for this step only)."""
        cfg = self.config
        bc = self.sc.broadcast(self.model.params.data.copy())
        fn = _partition_gradient(
            self.run_id,
            self.model_config,
            self.loss_config,
            bc,
            it,
            cfg.local_batch_size,
            cfg.global_batch_size,
            cfg.seed,
            cfg.shuffle,
            get_ops().name,
            cfg.mixup_alpha,
        )
        try:
            return blocks.mapPartitionsWithIndex(fn).treeAggregate(zero, _add, _add, depth=2)
        finally:  # also a failed or interrupted iteration: the file and the JVM copy
            bc.destroy()

    def _evaluate(self, iteration: int, group: int | None, state) -> None:
        stopper = self.stopper
        if stopper is not None and stopper.due(iteration, group):
            stopper.evaluate(iteration, group, self.model.params.data.copy(), state.layer_state)


def _history_entry(group: int, start: int, end: int, loss_sum: float, wall: float, cfg) -> dict:
    """The history record of iterations [start, end): the grouped engine's fields, its
    shares NaN (one Spark job per step has no compute / sync split to report)."""
    n = end - start
    return {
        "group": group,
        "start_iteration": start,
        "end_iteration": end,
        "iterations": n,
        "loss": loss_sum / n,
        "wall_s": wall,
        "samples_per_s": n * cfg.global_batch_size / wall,
        "compute_share": float("nan"),
        "sync_share": float("nan"),
        "scheduling_share": float("nan"),
    }
