"""Serialization: model directories and optimizer shards round-trip; bad files are refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dlcore.errors import ConfigError, SerializationError
from dlcore.layers.base import Layer
from dlcore.layers.linear import Linear
from dlcore.layers.sequential import Sequential
from dlcore.model import Model
from dlcore.optimizers import SGD, Adam, OptimizerState
from dlcore.params import shard_bounds
from dlcore.serialization import (
    load_model,
    load_optimizer_state,
    optimizer_state_paths,
    read_npz,
    save_model,
    save_optimizer_state,
    write_json_atomic,
    write_npz_atomic,
)


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


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    model = make_model()
    model.layer.layers[1].shift[...] = np.arange(8, dtype=np.float32)
    save_model(model, tmp_path / "model")
    return tmp_path / "model"


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


# -- round trips ---------------------------------------------------------------------------
def test_round_trip_gives_identical_predictions(saved):
    original = make_model()
    original.layer.layers[1].shift[...] = np.arange(8, dtype=np.float32)
    loaded = load_model(saved)
    np.testing.assert_array_equal(loaded.predict(X), original.predict(X))
    np.testing.assert_array_equal(loaded.params.data, original.params.data)
    assert sorted(p.name for p in saved.iterdir()) == ["model.json", "params.npz", "state.npz"]


def test_round_trip_after_training_steps(tmp_path):
    model = make_model(seed=5)
    opt = Adam(learning_rate=0.05)
    state = opt.init_state(model.params.size)
    for _ in range(3):
        Y, backprop = model.forward(X)
        backprop(Y - 1.0)
        opt.step(model.params.data, model.params.grad, state)
    save_model(model, tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(X), model.predict(X))


def test_saving_again_replaces_the_previous_save_and_leaves_no_temporaries(saved):
    other = make_model(seed=9)
    save_model(other, saved)
    np.testing.assert_array_equal(load_model(saved).predict(X), other.predict(X))
    assert [p.name for p in saved.parent.iterdir()] == ["model"]


def test_refuses_to_replace_a_directory_that_is_not_a_saved_model(tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(SerializationError, match="precious: exists and is not a saved model"):
        save_model(make_model(), tmp_path / "precious")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_model_json_records_format_and_checksums(saved):
    meta = json.loads((saved / "model.json").read_text())
    assert (meta["format"], meta["version"]) == ("dlcore.saved_model", 1)
    names = [r["name"] for r in meta["params"]]
    assert names == ["model/0_linear.W", "model/0_linear.b", "model/2_linear.W", "model/2_linear.b"]
    assert meta["params"][0]["shape"] == [4, 8] and len(meta["params"][0]["sha256"]) == 64
    assert [r["name"] for r in meta["state"]] == ["model/1_runningshift.shift"]


# -- malformed model directories -----------------------------------------------------------
@pytest.mark.parametrize("name", ["model.json", "params.npz", "state.npz"])
def test_missing_file(saved, name):
    (saved / name).unlink()
    with pytest.raises(SerializationError, match=rf"{name}: file is missing"):
        load_model(saved)


def test_not_a_directory(tmp_path):
    with pytest.raises(SerializationError, match="nowhere: no saved model here"):
        load_model(tmp_path / "nowhere")


def test_bad_json(saved):
    (saved / "model.json").write_text("{not json")
    with pytest.raises(SerializationError, match="model.json: not valid JSON"):
        load_model(saved)


def edit_json(saved: Path, edit) -> None:
    meta = json.loads((saved / "model.json").read_text())
    edit(meta)
    (saved / "model.json").write_text(json.dumps(meta))


def test_unknown_format_version(saved):
    edit_json(saved, lambda m: m.update(version=2))
    with pytest.raises(SerializationError, match="model.json: unknown format version 2"):
        load_model(saved)


def test_wrong_format_tag(saved):
    edit_json(saved, lambda m: m.update(format="keras"))
    with pytest.raises(SerializationError, match="format tag must be 'dlcore.saved_model'"):
        load_model(saved)


def test_unbuildable_architecture(saved):
    edit_json(saved, lambda m: m["model"]["layer"].update(type="Transformer"))
    with pytest.raises(SerializationError, match="cannot rebuild the model.*Transformer"):
        load_model(saved)


def test_json_records_that_do_not_match_the_architecture(saved):
    edit_json(saved, lambda m: m["params"][0].update(shape=[4, 9]))
    with pytest.raises(
        SerializationError,
        match=r"model.json: array 'model/0_linear.W' has shape \(4, 9\); expected \(4, 8\)",
    ):
        load_model(saved)


def test_malformed_record(saved):
    edit_json(saved, lambda m: m["params"][1].pop("sha256"))
    with pytest.raises(SerializationError, match=r"model.json: params\[1\] must be a record"):
        load_model(saved)


def rewrite_params(saved: Path, edit) -> None:
    arrays = npz_arrays(saved / "params.npz")
    edit(arrays)
    write_npz_atomic(saved / "params.npz", arrays)


def test_missing_array(saved):
    rewrite_params(saved, lambda a: a.pop("model/2_linear.b"))
    with pytest.raises(
        SerializationError,
        match=r"params.npz: arrays do not match\. Missing: \['model/2_linear.b'\]",
    ):
        load_model(saved)


def test_extra_array(saved):
    rewrite_params(saved, lambda a: a.update(stowaway=np.zeros(3, np.float32)))
    with pytest.raises(SerializationError, match=r"params.npz: .*unexpected: \['stowaway'\]"):
        load_model(saved)


def test_mis_shaped_array(saved):
    rewrite_params(saved, lambda a: a.update({"model/0_linear.b": np.zeros(9, np.float32)}))
    with pytest.raises(
        SerializationError,
        match=r"params.npz: array 'model/0_linear.b' has shape \(9,\); expected \(8,\)",
    ):
        load_model(saved)


def test_wrong_dtype(saved):
    rewrite_params(saved, lambda a: a.update({"model/0_linear.b": np.zeros(8, np.float64)}))
    with pytest.raises(
        SerializationError, match=r"'model/0_linear.b' has dtype float64; expected float32"
    ):
        load_model(saved)


def test_checksum_mismatch(saved):
    def tamper(arrays):
        arrays["model/0_linear.W"][0, 0] += 1.0

    rewrite_params(saved, tamper)
    with pytest.raises(
        SerializationError, match=r"params.npz: array 'model/0_linear.W' fails its sha256"
    ):
        load_model(saved)


def test_state_checksum_is_checked_too(saved):
    arrays = npz_arrays(saved / "state.npz")
    arrays["model/1_runningshift.shift"][3] = 99.0
    write_npz_atomic(saved / "state.npz", arrays)
    with pytest.raises(
        SerializationError, match="state.npz: array 'model/1_runningshift.shift' fails"
    ):
        load_model(saved)


def test_truncated_archive(saved):
    path = saved / "params.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SerializationError, match="params.npz: not an .npz"):
        load_model(saved)


def test_corrupted_bytes_inside_the_archive(saved):
    path = saved / "params.npz"
    data = bytearray(path.read_bytes())
    data[200:208] = b"\xff" * 8  # inside the first array's data: the zip CRC fails
    path.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="params.npz"):
        load_model(saved)


# -- never unpickle -------------------------------------------------------------------------
class Tripwire:
    """Unpickling this creates a file, which would prove that code ran during load."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_object_arrays_are_refused_without_unpickling(saved, tmp_path):
    tripwire = tmp_path / "tripwire"
    arrays = npz_arrays(saved / "params.npz")
    arrays["model/0_linear.b"] = np.array([Tripwire(tripwire)] * 8, dtype=object)
    np.savez(saved / "params.npz", **arrays)  # numpy pickles object arrays on save
    with pytest.raises(SerializationError, match="'model/0_linear.b' has object dtype.*never does"):
        load_model(saved)
    assert not tripwire.exists()


def test_pickle_file_posing_as_npz_is_refused(tmp_path):
    import pickle

    tripwire = tmp_path / "tripwire"
    (tmp_path / "evil.npz").write_bytes(pickle.dumps(Tripwire(tripwire)))
    with pytest.raises(SerializationError, match="evil.npz: not an .npz"):
        read_npz(tmp_path / "evil.npz")
    assert not tripwire.exists()


def test_writer_refuses_object_arrays(tmp_path):
    with pytest.raises(SerializationError, match="array 'x' has object dtype"):
        write_npz_atomic(tmp_path / "a.npz", {"x": np.array([None], dtype=object)})
    assert list(tmp_path.iterdir()) == []


# -- generic helpers ------------------------------------------------------------------------
def test_write_json_atomic_rejects_nan_and_leaves_no_file(tmp_path):
    with pytest.raises(SerializationError, match="cannot encode as JSON"):
        write_json_atomic(tmp_path / "m.json", {"loss": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_read_npz_without_expectations_and_with_awkward_names(tmp_path):
    arrays = {"file": np.arange(3), "a/b.c": np.ones((2, 2), np.float32)}
    write_npz_atomic(tmp_path / "x.npz", arrays)
    back = read_npz(tmp_path / "x.npz")
    assert sorted(back) == ["a/b.c", "file"]
    np.testing.assert_array_equal(back["file"], np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]


def test_read_npz_checks_zip_crc(tmp_path):
    write_npz_atomic(tmp_path / "x.npz", {"v": np.zeros(64, np.float32)})
    with zipfile.ZipFile(tmp_path / "x.npz") as zf:
        offset = zf.getinfo("v.npy").header_offset + 200
    data = bytearray((tmp_path / "x.npz").read_bytes())
    data[offset] ^= 0xFF
    (tmp_path / "x.npz").write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="x.npz: cannot read archive"):
        read_npz(tmp_path / "x.npz")


# -- optimizer state ------------------------------------------------------------------------
def stepped_adam(size: int = 10) -> tuple[Adam, OptimizerState]:
    opt = Adam(learning_rate=0.01)
    state = opt.init_state(size)
    rng = np.random.default_rng(3)
    param = rng.normal(size=size).astype(np.float32)
    for _ in range(2):
        opt.step(param, rng.normal(size=size).astype(np.float32), state)
    return opt, state


def test_optimizer_state_round_trip(tmp_path):
    opt, state = stepped_adam()
    save_optimizer_state(tmp_path, opt, state)
    back = load_optimizer_state(tmp_path, opt)
    assert back.step == 2 and sorted(back.slots) == ["m", "v"]
    for name in state.slots:
        np.testing.assert_array_equal(back.slots[name], state.slots[name])


def test_one_file_pair_per_rank(tmp_path):
    opt = Adam()
    bounds = [shard_bounds(10, 3, r) for r in range(3)]
    for rank, (start, stop) in enumerate(bounds):
        state = opt.init_state(stop - start)
        state.slots["m"][:] = rank
        save_optimizer_state(tmp_path, opt, state, rank=rank, world_size=3, start=start, stop=stop)
    assert optimizer_state_paths(tmp_path, rank=1, world_size=3)[0].name == (
        "optimizer.rank-00001-of-00003.json"
    )
    assert len(list(tmp_path.iterdir())) == 6
    for rank, (start, stop) in enumerate(bounds):
        back = load_optimizer_state(tmp_path, opt, rank=rank, world_size=3, start=start, stop=stop)
        assert back.slots["m"].shape == (stop - start,) and (back.slots["m"] == rank).all()


def test_shard_bounds_are_checked_on_load(tmp_path):
    opt = Adam()
    save_optimizer_state(tmp_path, opt, opt.init_state(4), rank=0, world_size=2, start=0, stop=4)
    with pytest.raises(SerializationError, match=r"saved for stop=4, but stop=5 was requested"):
        load_optimizer_state(tmp_path, opt, rank=0, world_size=2, start=0, stop=5)
    with pytest.raises(
        SerializationError, match=r"optimizer.rank-00000-of-00003.json: file is missing"
    ):
        load_optimizer_state(tmp_path, opt, rank=0, world_size=3)


def test_state_of_another_optimizer_is_refused(tmp_path):
    opt, state = stepped_adam()
    save_optimizer_state(tmp_path, opt, state)
    with pytest.raises(SerializationError, match="saved by optimizer 'Adam', cannot load into SGD"):
        load_optimizer_state(tmp_path, SGD(momentum=0.9))


def test_optimizer_slot_checksum_is_checked(tmp_path):
    opt, state = stepped_adam()
    save_optimizer_state(tmp_path, opt, state)
    npz = optimizer_state_paths(tmp_path)[1]
    arrays = npz_arrays(npz)
    arrays["v"][0] += 1.0
    write_npz_atomic(npz, arrays)
    with pytest.raises(SerializationError, match="array 'v' fails its sha256"):
        load_optimizer_state(tmp_path, opt)


def test_stateless_optimizer_round_trip(tmp_path):
    opt = SGD(learning_rate=0.1)
    save_optimizer_state(tmp_path, opt, OptimizerState(step=7), start=3, stop=9)
    assert load_optimizer_state(tmp_path, opt, start=3).step == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rank": 2, "world_size": 2}, r"rank must be an integer in \[0, 2\)\. Received: 2"),
        ({"world_size": 0}, r"world_size must be an integer >= 1\. Received: 0"),
        ({"start": -1}, r"start must be an integer >= 0\. Received: -1"),
        ({"start": 4, "stop": 2}, r"stop must be None or an integer >= start \(4\)\. Received: 2"),
        ({"stop": 7}, r"slot arrays must all have the shard's length 7 .* Received lengths \[10\]"),
    ],
)
def test_bad_shard_arguments(tmp_path, kwargs, message):
    opt, state = stepped_adam()
    with pytest.raises(ConfigError, match=message):
        save_optimizer_state(tmp_path, opt, state, **kwargs)


def test_numpy_integer_shard_bounds_are_accepted(tmp_path):
    opt = Adam()
    start, stop = np.int64(4), np.int64(8)
    save_optimizer_state(tmp_path, opt, opt.init_state(4), rank=np.int64(1), world_size=2,
                         start=start, stop=stop)  # fmt: skip
    back = load_optimizer_state(tmp_path, opt, rank=1, world_size=2, start=4, stop=8)
    assert back.slots["m"].shape == (4,)


# -- issue 8: member names, non-finite weights, limits before allocation ---------------------
def test_member_beside_its_npy_twin_is_refused_without_unpickling(tmp_path):
    """`a` beside `a.npy`: numpy would read `a` for npz['a'] after the header check read `a.npy`."""
    import io

    tripwire = tmp_path / "tripwire"
    honest, evil = io.BytesIO(), io.BytesIO()
    np.lib.format.write_array(honest, np.zeros(3, np.float32))
    np.lib.format.write_array(evil, np.array([Tripwire(tripwire)], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "twin.npz", "w") as zf:
        zf.writestr("a.npy", honest.getvalue())
        zf.writestr("a", evil.getvalue())
    with pytest.raises(
        SerializationError, match=r"twin.npz: not an archive written by dlcore.*\['a'\]"
    ):
        read_npz(tmp_path / "twin.npz", {"a": ((3,), np.float32)})
    assert not tripwire.exists()


def test_repeated_member_names_are_refused(tmp_path):
    import io
    import warnings

    with zipfile.ZipFile(tmp_path / "dup.npz", "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        for _ in range(2):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.zeros(2, np.float32))
            zf.writestr("v.npy", buf.getvalue())
    with pytest.raises(SerializationError, match=r"repeated: \['v.npy'\]"):
        read_npz(tmp_path / "dup.npz")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_on_save(tmp_path, bad):
    model = make_model()
    model.params.data[-1] = bad
    with pytest.raises(SerializationError, match=r"array 'model/2_linear.b' holds 1 non-finite"):
        save_model(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def _rewrite_array(saved: Path, archive: str, record_key: str, name: str, fn) -> None:
    """Change one array in an archive and update its checksum, as a careless tool would."""
    from dlcore.serialization import sha256_array

    arrays = npz_arrays(saved / archive)
    arrays[name] = fn(arrays[name].copy())
    write_npz_atomic(saved / archive, arrays)
    meta = json.loads((saved / "model.json").read_text())
    for rec in meta[record_key]:
        if rec["name"] == name:
            rec["sha256"] = sha256_array(arrays[name])
    (saved / "model.json").write_text(json.dumps(meta))


def _set_first(value):
    def fn(a):
        a.reshape(-1)[0] = value
        return a

    return fn


def test_non_finite_weights_are_refused_on_load(saved):
    _rewrite_array(saved, "params.npz", "params", "model/0_linear.W", _set_first(np.nan))
    with pytest.raises(
        SerializationError, match=r"params.npz: array 'model/0_linear.W' holds 1 non-finite.*load"
    ):
        load_model(saved)


def test_non_finite_layer_state_is_refused_on_load(saved):
    _rewrite_array(saved, "state.npz", "state", "model/1_runningshift.shift", _set_first(np.inf))
    with pytest.raises(
        SerializationError, match=r"state.npz: array 'model/1_runningshift.shift' holds 1"
    ):
        load_model(saved)


def test_non_finite_optimizer_slots_are_refused_on_save_and_load(tmp_path):
    opt, state = stepped_adam()
    bad = OptimizerState(step=state.step, slots={k: v.copy() for k, v in state.slots.items()})
    name = sorted(bad.slots)[0]
    bad.slots[name][3] = np.nan
    with pytest.raises(SerializationError, match=f"array '{name}' holds 1 non-finite.*save"):
        save_optimizer_state(tmp_path, opt, bad)
    save_optimizer_state(tmp_path, opt, state)
    json_path, npz_path = optimizer_state_paths(tmp_path)
    from dlcore.serialization import sha256_array

    arrays = npz_arrays(npz_path)
    arrays[name][0] = np.inf
    write_npz_atomic(npz_path, arrays)
    meta = json.loads(json_path.read_text())
    for rec in meta["slots"]:
        if rec["name"] == name:
            rec["sha256"] = sha256_array(arrays[name])
    json_path.write_text(json.dumps(meta))
    with pytest.raises(SerializationError, match=f"array '{name}' holds 1 non-finite.*load"):
        load_optimizer_state(tmp_path, Adam(learning_rate=0.01))


def test_huge_units_are_refused_before_any_allocation(saved):
    meta = json.loads((saved / "model.json").read_text())
    meta["model"]["layer"]["config"]["layers"][0]["config"]["units"] = 10**12
    (saved / "model.json").write_text(json.dumps(meta))
    with pytest.raises(
        SerializationError,
        match=r"model.json: model.layer.config.layers\[0\].config.units = 1000000000000 is over the limit",
    ):
        load_model(saved)


def test_parameter_count_is_checked_before_allocation(saved, monkeypatch):
    from dlcore.serialization import model as model_module

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
    (saved / "model.json").write_text(json.dumps(meta))
    with pytest.raises(SerializationError, match="nested deeper than 64 levels"):
        load_model(saved)


# -- limit boundaries (the mutation check found them unpinned) --------------------------------
def _config_depth(value, depth=0) -> int:
    if isinstance(value, dict):
        return max([_config_depth(v, depth + 1) for v in value.values()], default=depth)
    if isinstance(value, list):
        return max([_config_depth(v, depth + 1) for v in value], default=depth)
    return depth


def test_config_int_limit_is_inclusive(saved, monkeypatch):
    from dlcore.serialization import model as model_module

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
    (saved / "model.json").write_text(json.dumps(meta))
    with pytest.raises(SerializationError, match=r"model.in_features = -1000000000000 is over"):
        load_model(saved)


def test_config_depth_limit_is_inclusive(saved, monkeypatch):
    from dlcore.serialization import model as model_module

    depth = _config_depth(json.loads((saved / "model.json").read_text())["model"])
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
    from dlcore.serialization import model as model_module

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
    (saved / "model.json").write_text(json.dumps(meta))
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value) == (
        f"{saved / 'model.json'}: cannot rebuild the model from its config: 'in_features'"
    )


def test_check_finite_counts_every_bad_value_and_ignores_integers(tmp_path):
    from dlcore.serialization.files import check_finite

    check_finite(tmp_path, {"ids": np.array([1, 2], np.int64), "ok": np.ones(3, np.float32)}, "x")
    with pytest.raises(SerializationError) as info:
        check_finite(tmp_path / "f.npz", {"w": np.array([np.nan, 1.0, np.inf, -np.inf])}, "save")
    assert str(info.value) == (
        f"{tmp_path / 'f.npz'}: array 'w' holds 3 non-finite values (NaN or inf); refusing to "
        "save it. Training diverged: lower the learning rate or clip gradients, and resume from "
        "an earlier checkpoint"
    )
