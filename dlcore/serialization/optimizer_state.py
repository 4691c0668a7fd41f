"""Optimizer state saved per shard: `optimizer.rank-RRRRR-of-WWWWW.json` + `.npz`.

The JSON holds the optimizer's config (`optimizer_to_config`), the step counter, the
shard's rank / world size / [start, stop) bounds and a record (shape, dtype, sha256)
of every slot array; the .npz holds the slot arrays of that ONE shard. A distributed
job therefore writes one pair per rank, and loading checks that the file was written
for the same rank, world size and bounds, by the same kind of optimizer, with the
slots it keeps. Does not own when checkpoints are taken (the trainers).
"""

from __future__ import annotations

import logging
import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.errors import ConfigError, SerializationError
from dlcore.optimizers.base import Optimizer, OptimizerState, optimizer_to_config
from dlcore.serialization.files import (
    array_records,
    check_finite,
    check_format,
    check_seal,
    match_records,
    parse_records,
    read_json,
    read_npz,
    write_json_atomic,
    write_npz_atomic,
)
from dlcore.serialization.model import MAX_PARAMETERS

logger = logging.getLogger(__name__)

OPTIMIZER_FORMAT, OPTIMIZER_VERSION = "dlcore.optimizer_state", 1
OPTIMIZER_KEYS = frozenset({"format", "version", "optimizer", "step", "shard", "slots"})


def optimizer_state_paths(
    directory: str | os.PathLike, *, rank: int = 0, world_size: int = 1
) -> tuple[Path, Path]:
    """(json, npz) paths of one rank's optimizer state inside `directory`."""
    stem = f"optimizer.rank-{rank:05d}-of-{world_size:05d}"
    return Path(directory) / f"{stem}.json", Path(directory) / f"{stem}.npz"


def _check_shard(rank: Any, world_size: Any, start: Any, stop: Any) -> dict[str, Any]:
    """The shard arguments as plain ints (JSON-safe), or a ConfigError naming the bad one."""

    def is_int(x: Any) -> bool:
        return isinstance(x, numbers.Integral) and not isinstance(x, bool)

    if not (is_int(world_size) and world_size >= 1):
        raise ConfigError(f"world_size must be an integer >= 1. Received: {world_size!r}")
    if not (is_int(rank) and 0 <= rank < world_size):
        raise ConfigError(f"rank must be an integer in [0, {world_size}). Received: {rank!r}")
    if not (is_int(start) and start >= 0):
        raise ConfigError(f"start must be an integer >= 0. Received: {start!r}")
    if stop is not None and not (is_int(stop) and stop >= start):
        raise ConfigError(f"stop must be None or an integer >= start ({start}). Received: {stop!r}")
    return {
        "rank": int(rank),
        "world_size": int(world_size),
        "start": int(start),
        "stop": None if stop is None else int(stop),
    }


def save_optimizer_state(
    directory: str | os.PathLike,
    optimizer: Optimizer,
    state: OptimizerState,
    *,
    rank: int = 0,
    world_size: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> None:
    """Save one shard's optimizer state: config + step in JSON, slot arrays in .npz.

    `stop=None` takes the shard length from the slot arrays (unknown if there are none).
    """
    if not isinstance(optimizer, Optimizer):
        raise ConfigError(f"optimizer must be an Optimizer. Received: {type(optimizer).__name__}")
    shard = _check_shard(rank, world_size, start, stop)
    start, stop = shard["start"], shard["stop"]
    sizes = {a.size for a in state.slots.values()}
    if stop is None and sizes:
        stop = shard["stop"] = start + min(sizes)
    if sizes and sizes != {stop - start}:
        raise ConfigError(
            f"slot arrays must all have the shard's length {stop - start} "
            f"([start, stop) = [{start}, {stop})). Received lengths {sorted(sizes)}"
        )
    json_path, npz_path = optimizer_state_paths(
        directory, rank=shard["rank"], world_size=shard["world_size"]
    )
    check_finite(npz_path, state.slots, "save")
    meta = {
        "format": OPTIMIZER_FORMAT,
        "version": OPTIMIZER_VERSION,
        "optimizer": optimizer_to_config(optimizer),
        "step": int(state.step),
        "shard": shard,
        "slots": array_records(state.slots),
    }
    write_npz_atomic(npz_path, state.slots)
    write_json_atomic(json_path, meta, sealed=True)  # written last: it holds the checksums


def _check_saved_shard(meta: dict[str, Any], path: Path, want: dict[str, Any]) -> int | None:
    """Compare the saved shard bounds with the requested ones; return the saved stop."""
    saved = meta.get("shard")
    if not isinstance(saved, dict):
        raise SerializationError(
            f"{path}: 'shard' must be an object with rank/world_size/start/stop"
        )
    _check_saved_bounds(saved, path)
    keys = ["rank", "world_size", "start"]
    if want["stop"] is not None and saved.get("stop") is not None:
        keys.append("stop")  # an unknown stop on either side matches any
    for key in keys:
        if saved.get(key) != want[key]:
            raise SerializationError(
                f"{path}: saved for {key}={saved.get(key)!r}, but {key}={want[key]!r} was requested"
            )
    return saved.get("stop") if want["stop"] is None else want["stop"]


def _is_count(x: Any) -> bool:
    return type(x) is int and x >= 0


def _check_saved_bounds(saved: dict[str, Any], path: Path) -> None:
    """The saved shard's numbers, checked before any is used: with stop=None requested
    the saved stop sizes the slots, so a stop of 2**30 (and records and .npy headers to
    match, a few bytes of a compressed archive) allocated 4 GiB per slot, a stop "x" was
    a TypeError naming no file, and True was read as 1."""
    start, stop = saved.get("start"), saved.get("stop")
    if not (
        all(_is_count(saved.get(k)) for k in ("rank", "world_size", "start"))
        and (stop is None or (_is_count(stop) and stop >= start))
    ):
        raise SerializationError(
            f"{path}: 'shard' must hold integers rank, world_size, start >= 0 and stop >= "
            f"start (or null). Received {saved!r}"
        )
    if stop is not None and stop - start > MAX_PARAMETERS:
        raise SerializationError(
            f"{path}: the shard [{start}, {stop}) holds {stop - start} parameters, over the "
            f"limit of {MAX_PARAMETERS} (dlcore.serialization.model.MAX_PARAMETERS); refusing "
            "to allocate its slots"
        )


def load_optimizer_state(
    directory: str | os.PathLike,
    optimizer: Optimizer,
    *,
    rank: int = 0,
    world_size: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> OptimizerState:
    """Load one shard's optimizer state saved by `save_optimizer_state`, validated."""
    want = _check_shard(rank, world_size, start, stop)
    json_path, npz_path = optimizer_state_paths(
        directory, rank=want["rank"], world_size=want["world_size"]
    )
    meta = read_json(json_path)
    check_format(meta, json_path, OPTIMIZER_FORMAT, OPTIMIZER_VERSION)
    check_seal(meta, json_path, OPTIMIZER_KEYS)
    start, stop = want["start"], _check_saved_shard(meta, json_path, want)
    saved_cfg, current = meta.get("optimizer"), optimizer_to_config(optimizer)
    if not isinstance(saved_cfg, dict) or saved_cfg.get("type") != current["type"]:
        saved_type = saved_cfg.get("type") if isinstance(saved_cfg, dict) else saved_cfg
        raise SerializationError(
            f"{json_path}: saved by optimizer {saved_type!r}, cannot load into {current['type']}"
        )
    if saved_cfg != current:
        logger.warning(
            "%s: optimizer config differs from the saved one; keeping the new one", json_path
        )
    step = meta.get("step")
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        raise SerializationError(f"{json_path}: 'step' must be an integer >= 0. Received {step!r}")
    records = parse_records(meta, "slots", json_path)
    expected = _expected_slots(records, optimizer, 0 if stop is None else stop - start, json_path)
    slots = read_npz(npz_path, expected, checksums={n: r["sha256"] for n, r in records.items()})
    check_finite(npz_path, slots, "load")
    return OptimizerState(step=step, slots=slots)


def _expected_slots(
    records: dict[str, dict[str, Any]], optimizer: Optimizer, length: int, path: Path
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """name -> (shape, dtype) of the slot arrays this optimizer and shard need."""
    slot_names = set(optimizer.slot_names)
    if set(records) != slot_names:
        raise SerializationError(
            f"{path}: {type(optimizer).__name__} keeps slots {sorted(slot_names)}; the file "
            f"has {sorted(records)}"
        )
    for name, rec in records.items():
        if rec["dtype"].kind != "f":
            raise SerializationError(
                f"{path}: slot {name!r} must have a float dtype. Received {rec['dtype']}"
            )
    expected = {n: ((length,), r["dtype"]) for n, r in records.items()}
    match_records(records, expected, path)
    return expected
