"""What one barrier task does for one stage: several groups of iterations, back to back.

Owns: rebuilding the model/loss/optimizer from their JSON configs, restoring
this rank's state (from the worker process's cache when the previous stage ran
here, otherwise from the driver's broadcast), rendezvous + authenticated ring,
then for each group of the stage: G iterations of forward/backward + sharded
optimizer step, and a report of the rank's state and timings to the driver's
boundary server (`boundary.py`). Training never waits for the driver: the
report goes into the socket and the next group starts. The task's return value
is only a small summary.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcore.backends import set_num_threads, use_backend
from dlcore.collective import CommConfig, Communicator, Member, ShardedStep
from dlcore.fixed_input import EncodedRows
from dlcore.layers.base import Layer
from dlcore.losses import loss_from_config
from dlcore.model import Model
from dlcore.optimizers.base import OptimizerState, optimizer_from_config
from dlcore.training.mixup import mixup_batch, mixup_rng
from fraud_app import settings
from fraud_app.spark.boundary import BoundaryReporter
from fraud_app.spark.cursor import CursorPosition, DataCursor
from fraud_app.spark.data import PartitionData, partition_data

logger = logging.getLogger(__name__)

# How a worker's PeerTimeoutError names the setting to raise: the config file's keys.
TIMEOUT_SETTINGS = {
    "connect_timeout_setting": "training.distributed.connect_timeout_s",
    "op_timeout_setting": "training.distributed.op_timeout_s",
}
# How a ring-connect error names the settings that choose a worker's advertised address.
ADVERTISE_SETTING = "training.distributed.ring_interface (or SPARK_LOCAL_IP on each executor host)"

# (run_id, rank) -> ((round, group), RankState). Survives between stages in a reused Python
# worker. The round matters: a group a failed round finished but never committed has the same
# number as the one the retry commits, yet may differ in its bits.
_STATE_CACHE: dict[tuple[str, int], tuple[tuple[int, int], RankState]] = {}
# (run_id, rank) -> this rank's rows after the model's leading row-wise layers (the
# standardisation and the input encoding), kept while the partition and those layers'
# state stay the same: encoded once per fit, not once per minibatch.
_ENCODED_CACHE: dict[tuple[str, int], EncodedRows] = {}


@dataclass
class RankState:
    params: np.ndarray
    layer_state: dict[str, np.ndarray]
    opt_state: OptimizerState
    position: tuple[int, int]


@dataclass(frozen=True)
class StageTask:
    """Everything a task needs for one stage; primitives and small dicts only."""

    run_id: str
    round_id: int
    start_group: int
    start_iteration: int
    state_round: int  # the round whose reports made the starting state (-1: none, e.g. resumed)
    group_sizes: tuple[int, ...]  # iterations of each group this stage runs
    world_size: int
    rendezvous_address: tuple[str, int]
    boundary_address: tuple[str, int]
    secret: bytes = field(repr=False)
    model_config: dict[str, Any]
    loss_config: dict[str, Any]
    optimizer_config: dict[str, Any]
    local_batch_size: int
    global_batch_size: int
    seed: int
    shuffle: bool
    compression: str | None
    connect_timeout_s: float
    op_timeout_s: float
    state_broadcast: Any  # pyspark Broadcast of the driver's TrainingState payload
    fault: tuple[int, int] | None = None  # (rank, iteration): SIGKILL self there (tests only)
    topology: str = "auto"  # CommConfig.topology: auto | flat | hierarchical
    ring_interface: str | None = None  # CommConfig.advertise_interface (None: _my_host)
    transport: str = "auto"  # CommConfig.transport: auto | socket | shm (the driver's choice)
    shm_signal: str = "auto"  # CommConfig.shm_signal: auto | memory | socket (the driver's)
    backend: str | None = None  # the driver's dlcore backend: every rank computes with it
    mixup_alpha: float = 0.0  # DistributedConfig.mixup_alpha
    encoded_rows_max_bytes: int = 1 << 30  # DistributedConfig.encoded_rows_max_bytes

    @property
    def state_version(self) -> tuple[int, int]:
        """Identifies the starting state: (round that reported it, group it starts)."""
        return (self.state_round, self.start_group)


def _restore(task: StageTask, rank: int) -> tuple[RankState, bool]:
    for stale in [k for k in _STATE_CACHE if k[0] != task.run_id]:
        del _STATE_CACHE[stale]  # a finished run's weights and optimizer state
    cached = _STATE_CACHE.pop((task.run_id, rank), None)
    if cached is not None and cached[0] == task.state_version:
        return cached[1], True
    payload = task.state_broadcast.value
    slots = {k: v.copy() for k, v in payload["opt_slots"][rank].items()}
    return (
        RankState(
            params=payload["params"].copy(),
            layer_state={k: v.copy() for k, v in payload["layer_state"].items()},
            opt_state=OptimizerState(step=int(payload["opt_steps"][rank]), slots=slots),
            position=tuple(payload["positions"][rank]),
        ),
        False,
    )


def _my_host(ctx) -> str:
    """This executor's address as Spark knows it (valid on a cluster and on loopback)."""
    local_ip = settings.spark_local_ip()
    if local_ip and local_ip not in ("0.0.0.0", "::", "[::]"):
        return local_ip.strip("[]")  # Spark wants IPv6 literals in brackets: [fd00::1]
    address = ctx.getTaskInfos()[ctx.partitionId()].address
    return address.rsplit(":", 1)[0].strip("[]")


def _advertised(task: StageTask, ctx) -> dict[str, str]:
    """What a worker gives its ring neighbours to dial: training.distributed.ring_interface's
    address where set, else SPARK_LOCAL_IP or the executor's address (_my_host)."""
    if task.ring_interface is not None:
        return {"advertise_interface": task.ring_interface, "advertise_setting": ADVERTISE_SETTING}
    return {"advertise_host": _my_host(ctx), "advertise_setting": ADVERTISE_SETTING}


def random_layers(layer: Layer) -> list[Layer]:
    """Layers with their own random stream (Dropout): reseeded every iteration."""
    found = [layer] if hasattr(layer, "reseed") else []
    for child in layer.children():
        found += random_layers(child)
    return found


def run_stage(task: StageTask, blocks) -> dict[str, Any]:
    from pyspark import BarrierTaskContext

    t_start = time.perf_counter()
    ctx = BarrierTaskContext.get()
    rank = ctx.partitionId()
    if task.backend:
        use_backend(task.backend)  # not each worker's own timed choice: same bits everywhere
    set_num_threads(max(1, int(ctx.cpus())))
    data, data_hit = partition_data(task.run_id, rank, blocks)
    state, state_hit = _restore(task, rank)

    model = Model.from_config(task.model_config)
    model.load_weights(state.params, state.layer_state)
    loss = loss_from_config(task.loss_config)
    optimizer = optimizer_from_config(task.optimizer_config)
    encoded = _encoded_rows(task, rank, model, data)
    cursor = DataCursor(
        data if encoded is None else PartitionData(encoded.rows, data.y, data.w),
        seed=task.seed,
        rank=rank,
        shuffle=task.shuffle,
        position=CursorPosition(*state.position),
    )
    member = Member(rank=rank, world_size=task.world_size, round_id=task.round_id)
    comm_cfg = CommConfig(
        connect_timeout=task.connect_timeout_s,
        op_timeout=task.op_timeout_s,
        **TIMEOUT_SETTINGS,
        **_advertised(task, ctx),
        topology=task.topology,
        transport=task.transport,
        shm_signal=task.shm_signal,
    )
    t_setup = time.perf_counter()
    reporter = BoundaryReporter(
        task.boundary_address, task.secret, rank=rank, world_size=task.world_size,
        round_id=task.round_id, timeout=task.connect_timeout_s,
    )  # fmt: skip
    with (
        reporter,
        Communicator.join(task.rendezvous_address, task.secret, member, comm_cfg) as comm,
    ):
        step = ShardedStep(comm, optimizer, model.params, grad_compression=task.compression)
        step.load_state(state.opt_state)
        t_ready = time.perf_counter()
        stage = {
            "setup_s": t_setup - t_start,
            "rendezvous_s": t_ready - t_setup,
            "data_cache_hit": data_hit,
            "state_cache_hit": state_hit,
            "encoded_rows": encoded is not None,
            "transport": comm.transport,
            "shm_signal": comm.shm_signal,
        }
        iteration, report_s = task.start_iteration, 0.0
        for index, g in enumerate(task.group_sizes):
            group = task.start_group + index
            figures = _run_group(task, rank, g, iteration, model, loss, step, cursor, encoded)
            iteration += g
            t0 = time.perf_counter()
            snapshot = RankState(
                model.params.data.copy(),
                {k: v.copy() for k, v in model.layer.state().items()},
                OptimizerState(
                    step=step.state.step, slots={k: v.copy() for k, v in step.state.slots.items()}
                ),
                (cursor.position.epoch, cursor.position.offset),
            )
            _STATE_CACHE[(task.run_id, rank)] = ((task.round_id, group + 1), snapshot)
            arrays = {f"opt/{k}": v for k, v in snapshot.opt_state.slots.items()}
            if rank == 0:
                arrays["params"] = snapshot.params
                arrays.update({f"layer/{k}": v for k, v in snapshot.layer_state.items()})
            meta = {
                **figures,
                # every rank holds the same weights after the all-gather: the driver
                # compares these (a frame corrupted between workers, a rank gone astray)
                "params_sha256": hashlib.sha256(snapshot.params.data).hexdigest(),
                "iteration": iteration,
                "opt_step": int(snapshot.opt_state.step),
                "position": list(snapshot.position),
                "samples": g * task.local_batch_size,
                **(stage if index == 0 else {}),
            }
            reporter.send(group, meta, arrays)
            report_s += time.perf_counter() - t0
    return {"rank": rank, "report_s": report_s, "stage_s": time.perf_counter() - t_start, **stage}


def _encoded_rows(task: StageTask, rank: int, model: Model, data) -> EncodedRows | None:
    """This rank's rows through the model's leading row-wise layers (from the process cache
    when the partition and their state are the same); None: batches go through the whole
    model (no such layers, over the size limit, or mixup, which mixes raw rows before the
    encoding)."""
    key = (task.run_id, rank)
    for stale in [k for k in _ENCODED_CACHE if k[0] != task.run_id]:
        del _ENCODED_CACHE[stale]
    if task.mixup_alpha > 0 or task.encoded_rows_max_bytes == 0:
        return None
    cached = _ENCODED_CACHE.get(key)
    if cached is not None and cached.matches(model, data.X):
        return cached
    encoded = EncodedRows.build(model, data.X, max_cache_bytes=task.encoded_rows_max_bytes)
    if encoded is None:
        _ENCODED_CACHE.pop(key, None)
    else:
        _ENCODED_CACHE[key] = encoded
    return encoded


def _run_group(
    task: StageTask, rank: int, g: int, first: int, model, loss, step, cursor, encoded
) -> dict[str, float]:
    """G iterations; returns the group's loss sum, timings (loop, compute, sync) and the
    first iteration whose loss was NaN or infinite (None: none was; the driver stops).
    With `encoded`, the cursor's rows are already encoded and only the layers after the
    encoding run (the same bits as the whole model on the raw rows)."""
    loss_sum, compute_s, optimizer_s, nonfinite_at = 0.0, 0.0, 0.0, None
    # where a divergence began (engine_base.check_finite): the first iteration whose own
    # gradient, received sum over ranks or weights after the step were not finite
    grad_at = sum_at = weights_at = None
    # the compression the sum really went through (None on shared memory, whatever
    # task.compression says): at the first sum that was not finite, else the last step's
    wire = step.last_wire_compression
    sync_before = step.total_sync_s
    # Masks are a function of (seed, rank, iteration) alone, so the result does not depend
    # on how iterations fall into groups and stages (auto sizes follow measured timings).
    reseeded = random_layers(model.layer)
    t_loop = time.perf_counter()
    for i in range(g):
        if task.fault is not None and task.fault == (rank, first + i):
            os.kill(os.getpid(), signal.SIGKILL)
        t0 = time.perf_counter()
        for layer in reseeded:
            layer.reseed([task.seed, rank, first + i])
        X, y, w = cursor.next_batch(task.local_batch_size)
        if task.mixup_alpha > 0:
            X, y, w = mixup_batch(X, y, w, task.mixup_alpha, mixup_rng(task.seed, rank, first + i))
        if encoded is None:
            logits, backprop = model.forward(X, training=True)
        else:
            logits, backprop = encoded.forward(model, X, True)
        value, dlogits = loss(logits, y, w, denominator=task.global_batch_size)
        backprop(dlogits)
        compute_s += time.perf_counter() - t0
        optimizer_s += step.step(model.params).optimizer_s
        loss_sum += value
        if nonfinite_at is None and not math.isfinite(value):
            nonfinite_at = first + i
        own_finite, sum_finite, weights_finite = step.last_finite
        if grad_at is None and not own_finite:
            grad_at = first + i
        if sum_at is None:
            wire = step.last_wire_compression
            if not sum_finite:
                sum_at = first + i
        if weights_at is None and not weights_finite:
            weights_at = first + i
    return {
        "loss_sum": float(loss_sum),
        "nonfinite_loss_at": nonfinite_at,
        "nonfinite_grad_at": grad_at,
        "nonfinite_sum_at": sum_at,
        "nonfinite_weights_at": weights_at,
        "wire_compression": wire,
        "loop_s": time.perf_counter() - t_loop,
        "compute_s": compute_s + optimizer_s,
        "sync_s": step.total_sync_s - sync_before,
    }
