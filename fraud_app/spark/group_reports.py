"""A group's reports, as the driver of fraud_app.spark.grouped.GroupedEngine reads them:
the check that every rank ends the group with the same weights (`check_replicas`), the
group's history entry (loss, wall time and shares: `group_entry`, `group_timing`), and the
training state the reports make (`reported_state`); and the other way, the committed
state a stage's tasks start from (`stage_payload`, broadcast to them).

Pure functions of the reports (no Spark, no sockets): the scheduling of stages, the
collection of reports as they arrive and the retries are GroupedEngine's, the checks of
finite weights, the evaluation and the checkpoint fraud_app.spark.engine_base's and
fraud_app.spark.checkpoint's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.optimizers.base import OptimizerState
from fraud_app.spark.boundary import Report
from fraud_app.spark.checkpoint import TrainingState


class StageFailed(Exception):
    """A stage ended before all its groups were committed; `cause` is one line."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def check_replicas(meta: list[dict[str, Any]], group: int) -> None:
    """Every rank must end a group with the same weights (the all-gather gives each the
    same bits). Ranks that differ fail the stage, which is retried from the last committed
    group: their weights were not the ones rank 0 reported, and the run went on with
    replicas that disagreed."""
    digests = [m.get("params_sha256") for m in meta]
    odd = [r for r, d in enumerate(digests) if d != digests[0]]
    if odd:
        raise StageFailed(
            f"after group {group} rank(s) {odd} hold other weights than rank 0: a frame "
            "between workers was corrupted, or a rank computed differently"
        )


def group_entry(state: TrainingState, reports: list[Report], g: int, wall: float) -> dict:
    """The history entry of the group of `g` iterations after `state`, from its ranks'
    reports (in rank order; `wall`: its time at the driver); the first group of a stage
    also records the stage's set-up. StageFailed when the ranks' weights differ."""
    meta = [r.meta for r in reports]
    check_replicas(meta, state.group)
    first = meta[0].get("setup_s") is not None
    entry = {
        "group": state.group,
        "start_iteration": state.iteration,
        "end_iteration": state.iteration + g,
        "iterations": g,
        "loss": sum(m["loss_sum"] for m in meta) / g,
        **group_timing(meta, wall),
        "stage_start": first,
    }
    if first:
        entry.update(
            setup_s=max(m["setup_s"] for m in meta),
            rendezvous_s=max(m["rendezvous_s"] for m in meta),
            data_cache_hits=sum(bool(m["data_cache_hit"]) for m in meta),
            state_cache_hits=sum(bool(m["state_cache_hit"]) for m in meta),
            encoded_ranks=sum(bool(m.get("encoded_rows")) for m in meta),
            transport=meta[0].get("transport"),
            shm_signal=meta[0].get("shm_signal"),
        )
    return entry


def rank0_weights(reports: list[Report]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The flat parameters and the layer state rank 0 reported (every rank's are the same:
    check_replicas)."""
    rank0 = reports[0].arrays
    layer_state = {k[len("layer/") :]: v for k, v in rank0.items() if k.startswith("layer/")}
    return rank0["params"], layer_state


def reported_state(
    state: TrainingState, reports: list[Report], g: int, entry: dict, stopper
) -> TrainingState:
    """The state after the group `entry` of `g` iterations: rank 0's weights, each rank's
    optimizer slots and data position, the history with `entry`, the early stopper's
    `stopper` checkpoint state (None: no early stopping)."""
    params, layer_state = rank0_weights(reports)
    return TrainingState(
        iteration=state.iteration + g,
        group=state.group + 1,
        params=params,
        layer_state=layer_state,
        opt_states=[
            OptimizerState(
                step=r.meta["opt_step"],
                slots={k[len("opt/") :]: v for k, v in r.arrays.items() if k.startswith("opt/")},
            )
            for r in reports
        ],
        positions=[tuple(r.meta["position"]) for r in reports],
        history=[*state.history, entry],
        stopper=stopper,
    )


def stage_payload(state: TrainingState) -> dict[str, Any]:
    """The committed state a stage's tasks start from (broadcast; a worker process that
    kept it does not fetch it)."""
    return {
        "params": state.params,
        "layer_state": state.layer_state,
        "opt_slots": [s.slots for s in state.opt_states],
        "opt_steps": [s.step for s in state.opt_states],
        "positions": state.positions,
    }


def group_timing(meta: list[dict], wall: float) -> dict[str, float]:
    """A group's wall time and shares from the ranks' reports. `wall` is the time between
    the driver's receipt of the previous group's last report and this one's; a report sent
    late (a loaded worker) shortens the next group's interval below the time its ranks
    spent in it, which printed `compute 472% sync 4312%` and 897,757 samples/s for a group of
    one iteration. A group takes at least its slowest rank's loop."""
    loop = max(m["loop_s"] for m in meta)
    wall = max(wall, loop, 1e-9)
    return {
        "wall_s": wall,
        "samples_per_s": sum(m["samples"] for m in meta) / wall,
        "compute_share": float(np.mean([m["compute_s"] for m in meta])) / wall,
        "sync_share": float(np.mean([m["sync_s"] for m in meta])) / wall,
        "scheduling_share": max(wall - loop, 0.0) / wall,
        "loop_s": loop,
    }
