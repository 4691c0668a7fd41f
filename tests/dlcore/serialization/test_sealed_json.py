"""Sealed JSON: model.json and optimizer shards carry the sha256 of their own content, so
a flipped bit that still parses (a LeakyReLU slope 0.1 -> 0.3, a step count 8 -> 9, a
misspelt key read as its default) is refused. It loaded silently: the arrays' sha256
records do not cover the JSON around them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcore.errors import SerializationError
from dlcore.layers import Dropout, LeakyReLU, Linear, Sequential
from dlcore.model import Model
from dlcore.optimizers import Adam
from dlcore.serialization import (
    load_model,
    load_optimizer_state,
    optimizer_state_paths,
    save_model,
    save_optimizer_state,
)
from tests.dlcore.serialization.helpers import stepped_adam

SEALED = r"its content does not match its sha256 seal: the file was corrupted"


def _model() -> Model:
    layers = [Linear(8), LeakyReLU(0.1), Dropout(0.1), Linear(1)]
    return Model(Sequential(layers), in_features=4, seed=0)


def test_a_flipped_bit_in_any_byte_of_model_json_is_refused(tmp_path):
    model = _model()
    save_model(model, tmp_path / "m")
    path = tmp_path / "m" / "model.json"
    raw = path.read_bytes()
    silent = []
    for i in range(len(raw)):  # byte i, bit i % 8: every byte, every bit position
        bad = bytearray(raw)
        bad[i] ^= 1 << (i % 8)
        path.write_bytes(bytes(bad))
        try:
            load_model(tmp_path / "m")
        except SerializationError:
            continue
        silent.append(bytes(bad[max(0, i - 20) : i + 5]))
    assert silent == []
    path.write_bytes(raw)
    X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(X), model.predict(X))


def test_a_changed_slope_names_the_seal(tmp_path):
    save_model(_model(), tmp_path / "m")
    path = tmp_path / "m" / "model.json"
    path.write_text(path.read_text().replace('"negative_slope": 0.1', '"negative_slope": 0.3'))
    with pytest.raises(SerializationError, match=f"{path}: {SEALED}"):
        load_model(tmp_path / "m")


def test_an_unsealed_model_json_of_earlier_versions_loads_but_not_with_unknown_keys(tmp_path):
    model = _model()
    save_model(model, tmp_path / "m")
    path = tmp_path / "m" / "model.json"
    meta = json.loads(path.read_text())
    del meta["sha256"]
    path.write_text(json.dumps(meta))
    X = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(X), model.predict(X))
    meta["sha25&"] = "0" * 64  # one flipped bit in the seal's own key
    path.write_text(json.dumps(meta))
    with pytest.raises(SerializationError, match=r"unexpected key\(s\) \['sha25&'\]"):
        load_model(tmp_path / "m")


def test_a_changed_optimizer_step_is_refused(tmp_path):
    opt, state = stepped_adam(12)
    save_optimizer_state(tmp_path, opt, state)
    json_path, _ = optimizer_state_paths(tmp_path)
    text = json_path.read_text()
    assert f'"step": {state.step}' in text
    json_path.write_text(text.replace(f'"step": {state.step}', f'"step": {state.step + 1}'))
    with pytest.raises(SerializationError, match=f"{json_path}: {SEALED}"):
        load_optimizer_state(tmp_path, Adam())
