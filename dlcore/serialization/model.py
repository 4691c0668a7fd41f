"""A saved model is a DIRECTORY (the mlflow "model as a directory" contract).

    model.json   format tag + version, Model.get_config(), and for every array in
                 the two archives its name, shape, dtype and the sha256 of its bytes
    params.npz   one array per named parameter of the ParamBuffer
    state.npz    non-trainable layer state (BatchNorm running statistics)

Loading rebuilds the architecture from JSON, then checks every array (names,
shapes, dtypes, checksums) against it before a single value is used. Saving writes
a temporary directory next to the target and renames it into place; an earlier
save at the target is swapped out and deleted. Does not own the architecture's
JSON (Model.get_config()) nor the file helpers (`files`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.backends import Ops
from dlcore.errors import ConfigError, NotBuiltError, SerializationError, ShapeError
from dlcore.layers.base import layer_from_config
from dlcore.model import Model
from dlcore.params import ParamBuffer
from dlcore.serialization.files import (
    array_records,
    check_finite,
    check_format,
    check_seal,
    fsync_dir,
    match_records,
    parse_records,
    read_json,
    read_npz,
    write_json_atomic,
    write_npz_atomic,
)

MODEL_FORMAT, MODEL_VERSION = "dlcore.saved_model", 1
MODEL_JSON, PARAMS_NPZ, STATE_NPZ = "model.json", "params.npz", "state.npz"
MODEL_KEYS = frozenset({"format", "version", "model", "params", "state"})
# Limits checked BEFORE a saved architecture is built, so a hostile or mistyped model.json
# cannot make the loader allocate terabytes: any integer in the config (units, features,
# vocabulary sizes) and the total parameter count.
MAX_CONFIG_INT = 1 << 24
MAX_PARAMETERS = 1 << 28  # 1 GiB of float32 weights (and as much again for gradients)
MAX_CONFIG_DEPTH = 64


def _swap_into_place(tmp: Path, target: Path) -> None:
    if not target.exists():
        os.replace(tmp, target)
    else:
        # A unique hidden name that lives only until the rmtree below (its length is not
        # observable: equivalent mutants of [:8]).
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")  # pragma: no mutate
        os.replace(target, old)
        os.replace(tmp, target)
        # `old` was renamed here a moment ago, so it exists: ignore_errors never changes
        # what happens (equivalent mutants; see docs/TESTING.md).
        shutil.rmtree(old, ignore_errors=True)  # pragma: no mutate
    fsync_dir(target.parent)


def save_model(model: Model, path: str | os.PathLike) -> None:
    """Save `model` to the directory `path` atomically, replacing an earlier save there."""
    if not isinstance(model, Model):
        raise ConfigError(f"save_model needs a Model. Received: {type(model).__name__}")
    target = Path(path)
    is_save = (target / MODEL_JSON).is_file()
    if target.exists() and not is_save and (not target.is_dir() or any(target.iterdir())):
        raise SerializationError(
            f"{target}: exists and is not a saved model; refusing to replace it"
        )
    params = {spec.name: model.params.view(spec.name) for spec in model.params.specs}
    state = {k: np.asarray(v) for k, v in model.layer.state().items()}
    check_finite(target, {**params, **state}, "save")
    meta = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "model": model.get_config(),
        "params": array_records(params),
        "state": array_records(state),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        write_npz_atomic(tmp / PARAMS_NPZ, params)
        write_npz_atomic(tmp / STATE_NPZ, state)
        write_json_atomic(tmp / MODEL_JSON, meta, sealed=True)
        _swap_into_place(tmp, target)
    except BaseException:
        # `tmp` exists (mkdtemp made it), so ignore_errors (kept so that a failing cleanup
        # cannot hide the original error) changes nothing: equivalent mutants, not `tmp`'s.
        shutil.rmtree(  # pragma: no mutate
            tmp,
            ignore_errors=True,  # pragma: no mutate
        )
        raise


def _check_config_limits(value: Any, path: Path, where: str = "model", depth: int = 0) -> None:
    """Every integer in the config <= MAX_CONFIG_INT, nesting <= MAX_CONFIG_DEPTH."""
    if depth > MAX_CONFIG_DEPTH:
        raise SerializationError(
            f"{path}: the model config is nested deeper than {MAX_CONFIG_DEPTH} levels at "
            f"{where}; not a model saved by dlcore"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_config_limits(item, path, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_config_limits(item, path, f"{where}[{i}]", depth + 1)
    elif isinstance(value, int) and abs(value) > MAX_CONFIG_INT:
        raise SerializationError(
            f"{path}: {where} = {value} is over the limit of {MAX_CONFIG_INT} for any size in a "
            "model config; refusing to build it (the file is corrupted or not meant for dlcore)"
        )


def _check_parameter_count(config: dict[str, Any], path: Path) -> None:
    """Declare the architecture on a buffer that is never allocated; refuse it if too big."""
    try:
        layer = layer_from_config(config["layer"])
        # Only counts: the buffer is never allocated, so its dtype does not matter (the
        # config's dtype is checked when Model.from_config builds the real one).
        buffer = ParamBuffer()
        layer.declare(buffer, int(config["in_features"]))
    except (KeyError, ConfigError, ShapeError, NotBuiltError, TypeError, ValueError) as exc:
        raise SerializationError(
            f"{path}: cannot rebuild the model from its config: {exc}"
        ) from exc
    if buffer.size > MAX_PARAMETERS:
        raise SerializationError(
            f"{path}: the model config declares {buffer.size} parameters, over the limit of "
            f"{MAX_PARAMETERS} (dlcore.serialization.model.MAX_PARAMETERS); refusing to build it"
        )


def _rebuild(meta: dict[str, Any], path: Path, ops: Ops | None) -> Model:
    config = meta.get("model")
    if not isinstance(config, dict):
        raise SerializationError(f"{path}: 'model' must be the JSON object of Model.get_config()")
    _check_config_limits(config, path)
    _check_parameter_count(config, path)
    try:
        return Model.from_config(config, ops=ops)
    except (ConfigError, ShapeError, NotBuiltError, TypeError) as exc:
        raise SerializationError(
            f"{path}: cannot rebuild the model from its config: {exc}"
        ) from exc


def load_model(path: str | os.PathLike, ops: Ops | None = None) -> Model:
    """Rebuild a model saved by `save_model`, checking every array before use."""
    directory = Path(path)
    if not directory.is_dir():
        raise SerializationError(f"{directory}: no saved model here (not a directory)")
    json_path = directory / MODEL_JSON
    meta = read_json(json_path)
    check_format(meta, json_path, MODEL_FORMAT, MODEL_VERSION)
    check_seal(meta, json_path, MODEL_KEYS)
    records = parse_records(meta, "params", json_path)
    state_records = parse_records(meta, "state", json_path)
    model = _rebuild(meta, json_path, ops)
    expected = {s.name: (s.shape, model.dtype) for s in model.params.specs}
    match_records(records, expected, json_path)
    sums = {name: rec["sha256"] for name, rec in records.items()}
    arrays = read_npz(directory / PARAMS_NPZ, expected, checksums=sums)
    check_finite(directory / PARAMS_NPZ, arrays, "load")
    for name, arr in arrays.items():
        model.params.view(name)[...] = arr
    expected_state = {k: (np.shape(v), np.asarray(v).dtype) for k, v in model.layer.state().items()}
    match_records(state_records, expected_state, json_path)
    sums = {name: rec["sha256"] for name, rec in state_records.items()}
    state = read_npz(directory / STATE_NPZ, expected_state, checksums=sums)
    check_finite(directory / STATE_NPZ, state, "load")
    try:
        model.layer.load_state(state)
    except (ConfigError, ShapeError) as exc:
        raise SerializationError(f"{directory / STATE_NPZ}: layer state rejected: {exc}") from exc
    return model
