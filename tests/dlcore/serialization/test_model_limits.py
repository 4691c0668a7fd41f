"""Model files: non-finite weights refused, size and depth limits checked before allocation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcore.errors import SerializationError
from dlcore.serialization import load_model, save_model, seal
from dlcore.serialization import model as model_module
from tests.dlcore.serialization.helpers import config_depth, make_model, rewrite_array, set_first


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_on_save(tmp_path, bad):
    model = make_model()
    model.params.data[-1] = bad
    with pytest.raises(SerializationError) as info:
        save_model(model, tmp_path / "m")
    assert str(info.value) == (
        f"{tmp_path / 'm'}: array 'model/2_linear.b' holds 1 non-finite values (NaN or inf); "
        "refusing to save it. Training diverged: lower the learning rate or clip gradients, "
        "and resume from an earlier checkpoint"
    )
    assert not (tmp_path / "m").exists()


def test_non_finite_weights_are_refused_on_load(saved):
    rewrite_array(saved, "params.npz", "params", "model/0_linear.W", set_first(np.nan))
    with pytest.raises(
        SerializationError, match=r"params.npz: array 'model/0_linear.W' holds 1 non-finite.*load"
    ):
        load_model(saved)


def test_non_finite_layer_state_is_refused_on_load(saved):
    rewrite_array(saved, "state.npz", "state", "model/1_runningshift.shift", set_first(np.inf))
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value) == (
        f"{saved / 'state.npz'}: array 'model/1_runningshift.shift' holds 1 non-finite values "
        "(NaN or inf); refusing to load it. Training diverged: lower the learning rate or clip "
        "gradients, and resume from an earlier checkpoint"
    )


def test_huge_units_are_refused_before_any_allocation(saved):
    meta = json.loads((saved / "model.json").read_text())
    meta["model"]["layer"]["config"]["layers"][0]["config"]["units"] = 10**12
    (saved / "model.json").write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it
    with pytest.raises(
        SerializationError,
        match=r"model.json: model.layer.config.layers\[0\].config.units = 1000000000000 is over the limit",
    ):
        load_model(saved)


def test_parameter_count_is_checked_before_allocation(saved, monkeypatch):
    monkeypatch.setattr(model_module, "MAX_PARAMETERS", 40)  # the saved model has 4*8+8+8+1 = 49
    with pytest.raises(SerializationError, match="declares 49 parameters, over the limit of 40"):
        load_model(saved)
    monkeypatch.setattr(model_module, "MAX_PARAMETERS", 49)
    load_model(saved)


def test_deeply_nested_model_json_is_a_clear_error(saved):
    (saved / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SerializationError, match="model.json: JSON nested too deeply"):
        load_model(saved)


def test_nested_config_deeper_than_the_limit_is_refused(saved):
    meta = json.loads((saved / "model.json").read_text())
    deep: dict = {}
    node = deep
    for _ in range(70):
        node["x"] = {}
        node = node["x"]
    meta["model"]["extra"] = deep
    (saved / "model.json").write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it
    with pytest.raises(SerializationError, match="nested deeper than 64 levels"):
        load_model(saved)


def test_config_int_limit_is_inclusive(saved, monkeypatch):
    monkeypatch.setattr(model_module, "MAX_CONFIG_INT", 8)  # the widest layer has 8 units
    load_model(saved)
    monkeypatch.setattr(model_module, "MAX_CONFIG_INT", 7)
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value) == (
        f"{saved / 'model.json'}: model.layer.config.layers[0].config.units = 8 is over the limit "
        "of 7 for any size in a model config; refusing to build it (the file is corrupted or not "
        "meant for dlcore)"
    )


def test_negative_huge_sizes_are_refused_by_the_limit_too(saved):
    meta = json.loads((saved / "model.json").read_text())
    meta["model"]["in_features"] = -(10**12)
    (saved / "model.json").write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it
    with pytest.raises(SerializationError, match=r"model.in_features = -1000000000000 is over"):
        load_model(saved)


def test_config_depth_limit_is_inclusive(saved, monkeypatch):
    depth = config_depth(json.loads((saved / "model.json").read_text())["model"])
    monkeypatch.setattr(model_module, "MAX_CONFIG_DEPTH", depth)
    load_model(saved)
    monkeypatch.setattr(model_module, "MAX_CONFIG_DEPTH", depth - 1)
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value).startswith(
        f"{saved / 'model.json'}: the model config is nested deeper than {depth - 1} levels at model."
    )
    assert str(info.value).endswith("; not a model saved by dlcore")


def test_parameter_limit_is_inclusive_and_names_itself(saved, monkeypatch):
    monkeypatch.setattr(model_module, "MAX_PARAMETERS", 48)
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value) == (
        f"{saved / 'model.json'}: the model config declares 49 parameters, over the limit of 48 "
        "(dlcore.serialization.model.MAX_PARAMETERS); refusing to build it"
    )


def test_unbuildable_config_is_refused_before_building(saved):
    meta = json.loads((saved / "model.json").read_text())
    del meta["model"]["in_features"]
    (saved / "model.json").write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value) == (
        f"{saved / 'model.json'}: cannot rebuild the model from its config: 'in_features'"
    )
