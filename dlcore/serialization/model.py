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
from dlcore.model import Model
from dlcore.serialization.files import (
    array_records,
    check_format,
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


def _swap_into_place(tmp: Path, target: Path) -> None:
    if not target.exists():
        os.replace(tmp, target)
    else:
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
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
        write_json_atomic(tmp / MODEL_JSON, meta)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _rebuild(meta: dict[str, Any], path: Path, ops: Ops | None) -> Model:
    config = meta.get("model")
    if not isinstance(config, dict):
        raise SerializationError(f"{path}: 'model' must be the JSON object of Model.get_config()")
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
    records = parse_records(meta, "params", json_path)
    state_records = parse_records(meta, "state", json_path)
    model = _rebuild(meta, json_path, ops)
    expected = {s.name: (s.shape, model.dtype) for s in model.params.specs}
    match_records(records, expected, json_path)
    sums = {name: rec["sha256"] for name, rec in records.items()}
    for name, arr in read_npz(directory / PARAMS_NPZ, expected, checksums=sums).items():
        model.params.view(name)[...] = arr
    expected_state = {k: (np.shape(v), np.asarray(v).dtype) for k, v in model.layer.state().items()}
    match_records(state_records, expected_state, json_path)
    sums = {name: rec["sha256"] for name, rec in state_records.items()}
    state = read_npz(directory / STATE_NPZ, expected_state, checksums=sums)
    try:
        model.layer.load_state(state)
    except (ConfigError, ShapeError) as exc:
        raise SerializationError(f"{directory / STATE_NPZ}: layer state rejected: {exc}") from exc
    return model
