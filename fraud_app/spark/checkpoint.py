"""Checkpoints at group boundaries, written by the driver.

Workers hand their state back to the driver at the end of a group (rank 0 the
full weights and layer state; every rank its OWN optimizer shard and data
position), so checkpoints need no filesystem shared with the executors and
still hold the optimizer state sharded, one file per rank. Layout:

    <dir>/group-000012/model/            dlcore model directory (json + npz)
    <dir>/group-000012/optimizer.rank-RRRRR-of-WWWWW.npz + .json  one per rank
    <dir>/group-000012/early_stopping.npz  the early stopper's best weights (with a
                                         validation set; its scores and counts in meta.json)
    <dir>/group-000012/meta.json         iteration, positions, fingerprint, setup, history,
                                         the sha256 of model.json and each optimizer JSON
    <dir>/LATEST.json                    pointer, replaced atomically last

A checkpoint exists only once LATEST.json points at it, so a crash mid-write
leaves the previous one intact (a save that fails part-way removes its own
directory). If LATEST.json itself is malformed or names a directory that is not
there, loading falls back to the newest group directory that loads completely,
with a warning; if the directory it names is damaged (a seal that does not match,
a missing or truncated file), to the newest intact one BEFORE it, with a warning
naming the damage; if it is missing while group directories are there, to the
newest intact one of those (none: start over, with a warning); LATEST.json is sealed too,
so a flipped digit naming an older group is a damaged pointer, not a silent older resume. Weights and optimizer slots that are not finite are refused on
save and on load (dlcore.serialization). Every JSON file is sealed (its own sha256,
dlcore.serialization.check_seal) and every array carries a sha256 record, so a flipped
bit anywhere in a checkpoint is an error, never a silent resume from another state.
meta.json also records the sha256 of model.json and of each optimizer shard's JSON
(fraud_app.spark.checkpoint_parts), so a part of another checkpoint copied in (an older
group's, a partial restore) is damage too, never a resume of a mix of two states.
Nothing is unpickled on load: .npz with allow_pickle=False and JSON only. The seals carry
no key, so a resume first refuses a directory another local user could have written to
(fraud_app.spark.checkpoint_trust).

A checkpoint of another setup (its fingerprint differs) is refused naming what differs:
meta.json keeps the setup the fingerprint is the digest of. The wording of what differs
lives in fraud_app.spark.setup_differences; the setup and its fingerprint in
fraud_app.spark.engine_base; the file formats and seals in dlcore.serialization.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.errors import ConfigError as DlcoreConfigError
from dlcore.errors import SerializationError
from dlcore.model import Model
from dlcore.optimizers.base import Optimizer, OptimizerState, optimizer_from_config
from dlcore.params import shard_bounds
from dlcore.serialization import (
    check_seal,
    load_model,
    load_optimizer_state,
    read_json,
    read_npz,
    save_model,
    save_optimizer_state,
    write_json_atomic,
    write_npz_atomic,
)
from dlcore.serialization.files import array_records, match_records, parse_records
from fraud_app.errors import TrainingError
from fraud_app.spark.checkpoint_parts import check_parts, part_digests
from fraud_app.spark.checkpoint_trust import check_private
from fraud_app.spark.setup_differences import setup_differences

logger = logging.getLogger(__name__)
FORMAT = "fraud_app.checkpoint/1"
FOREIGN = "belongs to a different training setup"


class ForeignCheckpointError(TrainingError):
    """A checkpoint of another training setup: never skipped by the fall-back."""


GROUP_DIR = re.compile(r"group-\d{6,}")
POINTER_KEYS = frozenset({"format", "group_dir"})
META_KEYS = frozenset({"format", "fingerprint", "iteration", "group", "world_size", "positions",
                       "history", "setup", "early_stopping", "parts"})  # fmt: skip
STOPPER_NPZ = "early_stopping.npz"


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
    # the early stopper's (JSON, arrays) after this group (EarlyStopper.checkpoint_state);
    # None: no validation set
    stopper: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None


class CheckpointStore:
    def __init__(
        self, directory: str | Path, *, fingerprint: str | None, keep: int = 2,
        setup: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """fingerprint=None: read any run's checkpoints (inspection); never for resuming.
        setup: what the fingerprint is the digest of (kept in meta.json, so that a refused
        checkpoint can be told apart from this run by name)."""
        self.dir = Path(directory)
        self.fingerprint = fingerprint
        self.keep = keep
        self.setup = setup

    def save(self, state: TrainingState, model: Model, optimizer: Optimizer) -> Path:
        target = self.dir / f"group-{state.group:06d}"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        try:
            self._write(target, state, model, optimizer)
        except BaseException:  # LATEST.json still names the previous one
            # `target` exists (made above), so ignore_errors (kept so that a failing cleanup
            # cannot hide the original error) changes nothing: equivalent mutants.
            shutil.rmtree(  # pragma: no mutate
                target,
                ignore_errors=True,  # pragma: no mutate
            )
            raise
        # sealed: a flipped digit naming an older group that exists resumed it silently
        pointer = {"format": FORMAT, "group_dir": target.name}
        write_json_atomic(self.dir / "LATEST.json", pointer, sealed=True)
        self._prune(keep_name=target.name)
        logger.info("checkpoint written: %s (iteration %d)", target, state.iteration)
        return target

    def _write(self, target: Path, state: TrainingState, model: Model, optimizer: Optimizer):
        world = len(state.opt_states)
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
        if self.setup is not None:
            meta["setup"] = self.setup
        # each part is sealed on its own: without this, a part of another checkpoint (an older
        # group's optimizer shard or model/) copied in loaded silently beside this meta.json
        meta["parts"] = part_digests(target, world)
        if state.stopper is not None:
            stopper_meta, arrays = state.stopper
            write_npz_atomic(target / STOPPER_NPZ, arrays)
            meta["early_stopping"] = {"state": stopper_meta, "arrays": array_records(arrays)}
        # last: a directory without it is partial; sealed: a flipped digit in the iteration or
        # a position resumed a run at another point than it stopped, silently
        write_json_atomic(target / "meta.json", meta, sealed=True)

    def latest(self) -> Path | None:
        """The checkpoint LATEST.json names; None if there is no pointer.

        Raises TrainingError naming the problem when the pointer is malformed or names
        a directory that does not exist (`load` then falls back, see there).
        """
        pointer = self.dir / "LATEST.json"
        if not pointer.is_file():
            return None
        try:
            obj = json.loads(pointer.read_text(encoding="utf-8"))
            name = obj["group_dir"]
            check_seal(obj, pointer, POINTER_KEYS)  # pointers before seals: none, read as before
        except SerializationError as exc:
            raise TrainingError(f"checkpoint pointer {exc}") from exc
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise TrainingError(f"checkpoint pointer {pointer} is malformed: {exc!r}") from exc
        if not isinstance(name, str) or not GROUP_DIR.fullmatch(name):
            raise TrainingError(
                f"checkpoint pointer {pointer} names {name!r}, not a directory group-NNNNNN"
            )
        if not (self.dir / name).is_dir():
            raise TrainingError(f"checkpoint pointer {pointer} names {name}, which does not exist")
        return self.dir / name

    def saved_optimizer(self) -> Optimizer:
        """The optimizer recorded in the newest checkpoint's rank-0 shard (for inspection)."""
        # No pointer or a broken one: the newest directory, as load() would fall back.
        path = max(self.dir.glob("group-*"), default=None)
        with contextlib.suppress(TrainingError):
            path = self.latest() or path
        if path is None:
            raise TrainingError(f"{self.dir} holds no checkpoint (no LATEST.json, no group-*)")
        shard = next(iter(sorted(path.glob("optimizer.rank-00000-of-*.json"))), None)
        if shard is None:
            raise TrainingError(f"checkpoint {path} has no optimizer shard of rank 0")
        try:
            return optimizer_from_config(read_json(shard).get("optimizer"))
        except DlcoreConfigError as exc:
            raise TrainingError(f"{shard}: unknown optimizer: {exc}") from exc

    def load(self, optimizer: Optimizer) -> tuple[TrainingState, Model] | None:
        """The checkpoint LATEST.json names. When that is damaged, the newest intact one
        before it, with a WARNING naming what was damaged (it failed the run; a pointer
        that is malformed or names no directory: the newest intact one). No pointer but
        group directories (the pointer lost): the newest intact one of those, with a
        WARNING (the run restarted from iteration 0 without a word). A checkpoint of
        another training setup is never skipped over: that stays an error. For a resume
        (a fingerprint), a directory another local user could have written to is refused
        first (checkpoint_trust)."""
        if self.fingerprint is not None and self.dir.exists():
            check_private(self.dir)
        pointer = self.dir / "LATEST.json"
        try:
            path = self.latest()
        except TrainingError as exc:
            return self._fall_back(optimizer, str(exc))
        if path is None:
            if not self._groups():
                return None
            return self._fall_back(
                optimizer, f"{self.dir} has checkpoint directories but no {pointer.name}",
                required=False,
            )  # fmt: skip
        try:
            return self._load_dir(path, optimizer)
        except ForeignCheckpointError:
            raise
        except (TrainingError, SerializationError) as exc:
            problem = f"checkpoint {path.name} (named by {pointer}) is damaged: {exc}"
            return self._fall_back(optimizer, problem, before=path.name)

    def _groups(self) -> list[Path]:
        """The group directories, newest first."""
        return sorted(
            (p for p in self.dir.glob("group-*") if p.is_dir() and GROUP_DIR.fullmatch(p.name)),
            reverse=True,
        )

    def _fall_back(
        self, optimizer: Optimizer, problem: str, *, before: str | None = None,
        required: bool = True,
    ) -> tuple[TrainingState, Model] | None:  # fmt: skip
        """The newest intact checkpoint (older than `before` when given), with a WARNING
        naming `problem`; none: TrainingError, or with required=False None (start over;
        a first save killed part-way leaves a group directory and no pointer)."""
        for path in self._groups():
            if before is not None and path.name >= before:
                continue
            try:
                loaded = self._load_dir(path, optimizer)
            except ForeignCheckpointError:
                raise
            except (TrainingError, SerializationError) as exc:
                logger.warning("checkpoint %s is not intact, skipping it: %s", path, exc)
                continue
            logger.warning("%s; resuming from the newest intact checkpoint %s", problem, path)
            return loaded
        if not required:
            logger.warning("%s, and none of them is intact; starting from iteration 0", problem)
            return None
        raise TrainingError(
            f"{problem}, and no intact checkpoint is left in {self.dir}; delete the directory "
            "to start over"
        )

    def _load_dir(self, path: Path, optimizer: Optimizer) -> tuple[TrainingState, Model]:
        meta = self._read_meta(path)
        check_parts(path, meta)
        model = load_model(path / "model")
        try:
            world = int(meta["world_size"])
            state = TrainingState(
                iteration=int(meta["iteration"]),
                group=int(meta["group"]),
                params=model.params.data.copy(),
                layer_state={k: v.copy() for k, v in model.layer.state().items()},
                opt_states=[],
                positions=[tuple(p) for p in meta["positions"]],
                history=list(meta.get("history", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainingError(f"checkpoint {path}/meta.json is malformed: {exc!r}") from exc
        # Outside the try: a shard that does not fit the model is named by its own error.
        for r in range(world):
            start, stop = shard_bounds(model.params.size, world, r)
            state.opt_states.append(
                load_optimizer_state(
                    path, optimizer, rank=r, world_size=world, start=start, stop=stop
                )
            )
        state.stopper = self._load_stopper(path, meta, model)
        return state, model

    def _read_meta(self, path: Path) -> dict[str, Any]:
        """The checkpoint's meta.json, checked: readable, of this FORMAT, its seal intact and,
        unless this store reads any run's checkpoints, of this run's setup."""
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise TrainingError(f"checkpoint {path} has no readable meta.json: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise TrainingError(f"checkpoint {path} has format {found!r}; expected {FORMAT!r}")
        check_seal(meta, path / "meta.json", META_KEYS)  # SerializationError naming the file
        if self.fingerprint is not None and meta.get("fingerprint") != self.fingerprint:
            if "setup" not in meta and self.setup is not None:
                raise ForeignCheckpointError(older_release(path, self.dir))
            what = setup_differences(meta.get("setup"), self.setup)
            raise ForeignCheckpointError(
                f"checkpoint {path} {FOREIGN} ({what}). Use a new checkpoint directory or "
                "delete this one to start over."
            )
        return meta

    def _load_stopper(self, path: Path, meta: dict[str, Any], model: Model):
        """The early stopper's (JSON, arrays) of this checkpoint, None when it has none;
        its weights are checked against the model (shapes, dtypes) and their sha256."""
        saved = meta.get("early_stopping")
        if saved is None:
            return None
        json_path = path / "meta.json"
        try:
            records = parse_records(saved, "arrays", json_path)
            state = saved["state"]
            n_snapshots = len(state["snapshots"])
        except (KeyError, TypeError) as exc:
            raise TrainingError(
                f"checkpoint {json_path}: early_stopping is malformed: {exc!r}"
            ) from exc
        layer = {k: (np.shape(v), np.asarray(v).dtype) for k, v in model.layer.state().items()}
        prefixes = [f"snapshot{i}" for i in range(n_snapshots)]
        prefixes += ["best"] if "best:params" in records else []
        expected = {}
        for prefix in prefixes:
            expected[f"{prefix}:params"] = ((model.params.size,), model.dtype)
            expected.update({f"{prefix}:layer:{k}": want for k, want in layer.items()})
        match_records(records, expected, json_path)
        sums = {name: rec["sha256"] for name, rec in records.items()}
        return state, read_npz(path / STOPPER_NPZ, expected, checksums=sums)

    def _prune(self, keep_name: str) -> None:
        groups = sorted(p for p in self.dir.glob("group-*") if p.is_dir())
        for old in groups[: max(0, len(groups) - self.keep)]:
            if old.name != keep_name:
                # `old` was just listed as a directory: ignore_errors only keeps a failing
                # delete from failing a save that succeeded; equivalent mutants.
                shutil.rmtree(  # pragma: no mutate
                    old,
                    ignore_errors=True,  # pragma: no mutate
                )


def older_release(path: Path, store: Path) -> str:
    """The refusal of a checkpoint written before its setup was recorded (a release before
    session 23): it said 'model, optimizer, data, worker count or another setting changed',
    and an operator who had only upgraded looked for a setting that had not changed."""
    return (
        f"checkpoint {path} {FOREIGN}: it was written by an older fraud-app release (its "
        f"meta.json, format {FORMAT}, records no training setup: checkpoints written before "
        "session 23), whose training differs from this release's, so the run it belongs to "
        f"cannot resume under this release. Delete {store} and the run's other checkpoint "
        "directories (paths.checkpoints/<run>/), or train under a new --run name, to start "
        "over."
    )
