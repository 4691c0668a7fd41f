"""Model directories: round trips, and every malformed file refused with its name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcore.errors import SerializationError
from dlcore.optimizers import Adam
from dlcore.serialization import load_model, save_model, write_npz_atomic
from tests.dlcore.serialization.helpers import X, edit_json, make_model, npz_arrays, rewrite_params


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
