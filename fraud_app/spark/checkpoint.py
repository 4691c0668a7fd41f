"""Checkpoints at group boundaries, written by the driver.

Workers hand their state back to the driver at the end of a group (rank 0 the
full weights and layer state; every rank its OWN optimizer shard and data
position), so checkpoints need no filesystem shared with the executors and
still hold the optimizer state sharded, one file per rank. Layout:

    <dir>/group-000012/model/            dlcore model directory (json + npz)
    <dir>/group-000012/optimizer-rank{r}-of-{n}.npz + .json
    <dir>/group-000012/meta.json         iteration, positions, fingerprint, history
    <dir>/LATEST.json                    pointer, replaced atomically last

A checkpoint exists only once LATEST.json points at it, so a crash mid-write
leaves the previous one intact. Nothing is unpickled on load: .npz with
allow_pickle=False and JSON only.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.model import Model
from dlcore.optimizers.base import Optimizer, OptimizerState
from dlcore.params import shard_bounds
from dlcore.serialization import (
    load_model,
    load_optimizer_state,
    save_model,
    save_optimizer_state,
    write_json_atomic,
)
from fraud_app.errors import TrainingError

logger = logging.getLogger(__name__)
FORMAT = "fraud_app.checkpoint/1"


@dataclass
class TrainingState:
    """Everything needed to continue a run at a group boundary."""

    iteration: int
    group: int
    params: np.ndarray
    layer_state: dict[str, np.ndarray]
    opt_states: list[OptimizerState]  # one per rank, each for that rank's shard only
    positions: list[tuple[int, int]]  # (epoch, offset) per rank
    history: list[dict[str, Any]] = field(default_factory=list)


class CheckpointStore:
    def __init__(self, directory: str | Path, *, fingerprint: str, keep: int = 2) -> None:
        self.dir = Path(directory)
        self.fingerprint = fingerprint
        self.keep = keep

    def save(self, state: TrainingState, model: Model, optimizer: Optimizer) -> Path:
        world = len(state.opt_states)
        target = self.dir / f"group-{state.group:06d}"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        model.load_weights(state.params, state.layer_state)
        save_model(model, target / "model")
        for rank, opt_state in enumerate(state.opt_states):
            start, stop = shard_bounds(model.params.size, world, rank)
            save_optimizer_state(
                target, optimizer, opt_state, rank=rank, world_size=world, start=start, stop=stop
            )
        meta = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "iteration": state.iteration,
            "group": state.group,
            "world_size": world,
            "positions": [list(p) for p in state.positions],
            "history": state.history,
        }
        write_json_atomic(target / "meta.json", meta)
        write_json_atomic(self.dir / "LATEST.json", {"format": FORMAT, "group_dir": target.name})
        self._prune(keep_name=target.name)
        logger.info("checkpoint written: %s (iteration %d)", target, state.iteration)
        return target

    def latest(self) -> Path | None:
        pointer = self.dir / "LATEST.json"
        if not pointer.is_file():
            return None
        try:
            name = json.loads(pointer.read_text())["group_dir"]
        except (ValueError, KeyError) as exc:
            raise TrainingError(f"checkpoint pointer {pointer} is malformed: {exc}") from exc
        return self.dir / name

    def load(self, optimizer: Optimizer) -> tuple[TrainingState, Model] | None:
        path = self.latest()
        if path is None:
            return None
        try:
            meta = json.loads((path / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise TrainingError(f"checkpoint {path} has no readable meta.json: {exc}") from exc
        if meta.get("format") != FORMAT:
            raise TrainingError(
                f"checkpoint {path} has format {meta.get('format')!r}; expected {FORMAT!r}"
            )
        if meta.get("fingerprint") != self.fingerprint:
            raise TrainingError(
                f"checkpoint {path} belongs to a different training setup (model, optimizer, data or "
                "worker count changed). Use a new checkpoint directory or delete this one to start over."
            )
        model = load_model(path / "model")
        world = int(meta["world_size"])
        opt_states = []
        for r in range(world):
            start, stop = shard_bounds(model.params.size, world, r)
            opt_states.append(
                load_optimizer_state(
                    path, optimizer, rank=r, world_size=world, start=start, stop=stop
                )
            )
        state = TrainingState(
            iteration=int(meta["iteration"]),
            group=int(meta["group"]),
            params=model.params.data.copy(),
            layer_state={k: v.copy() for k, v in model.layer.state().items()},
            opt_states=opt_states,
            positions=[tuple(p) for p in meta["positions"]],
            history=list(meta.get("history", [])),
        )
        return state, model

    def _prune(self, keep_name: str) -> None:
        groups = sorted(p for p in self.dir.glob("group-*") if p.is_dir())
        for old in groups[: max(0, len(groups) - self.keep)]:
            if old.name != keep_name:
                shutil.rmtree(old, ignore_errors=True)
