"""Models, archives and edits shared by the serialization tests (real files, no mocks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dlcore.layers.base import Layer
from dlcore.layers.linear import Linear
from dlcore.layers.sequential import Sequential
from dlcore.model import Model
from dlcore.optimizers import Adam, OptimizerState
from dlcore.serialization import seal, sha256_array, write_npz_atomic


class RunningShift(Layer):
    """Adds a non-trainable running offset: stands in for BatchNorm's running stats."""

    def declare(self, params, in_features):
        self.shift = np.zeros(in_features, dtype=params.dtype)
        return super().declare(params, in_features)

    def forward(self, X, training):
        return X + self.shift, lambda dY: dY

    def state(self):
        return {"shift": self.shift}

    def load_state(self, state):
        self.shift[...] = state["shift"]


def make_model(seed: int = 0) -> Model:
    return Model(Sequential([Linear(8), RunningShift(), Linear(1)]), in_features=4, seed=seed)


X = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def edit_json(saved: Path, edit) -> None:
    meta = json.loads((saved / "model.json").read_text())
    edit(meta)
    (saved / "model.json").write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it


def rewrite_params(saved: Path, edit) -> None:
    arrays = npz_arrays(saved / "params.npz")
    edit(arrays)
    write_npz_atomic(saved / "params.npz", arrays)


class Tripwire:
    """Unpickling this creates a file, which would prove that code ran during load."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def stepped_adam(size: int = 10) -> tuple[Adam, OptimizerState]:
    opt = Adam(learning_rate=0.01)
    state = opt.init_state(size)
    rng = np.random.default_rng(3)
    param = rng.normal(size=size).astype(np.float32)
    for _ in range(2):
        opt.step(param, rng.normal(size=size).astype(np.float32), state)
    return opt, state


def rewrite_array(saved: Path, archive: str, record_key: str, name: str, fn) -> None:
    """Change one array in an archive and update its checksum, as a careless tool would."""
    arrays = npz_arrays(saved / archive)
    arrays[name] = fn(arrays[name].copy())
    write_npz_atomic(saved / archive, arrays)
    meta = json.loads((saved / "model.json").read_text())
    for rec in meta[record_key]:
        if rec["name"] == name:
            rec["sha256"] = sha256_array(arrays[name])
    (saved / "model.json").write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it


def set_first(value):
    def fn(a):
        a.reshape(-1)[0] = value
        return a

    return fn


def config_depth(value, depth=0) -> int:
    if isinstance(value, dict):
        return max([config_depth(v, depth + 1) for v in value.values()], default=depth)
    if isinstance(value, list):
        return max([config_depth(v, depth + 1) for v in value], default=depth)
    return depth
