"""Saving a model: where temporaries go, what a failed save leaves, what it may replace.

Also the state side of loading (records, archive and the layer's own check), each error
pinned whole: these close the gaps the mutation check (`make mutation`) found in model.py.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dlcore.backends import Ops
from dlcore.errors import ConfigError, SerializationError
from dlcore.layers.base import Layer
from dlcore.layers.linear import Linear
from dlcore.layers.sequential import Sequential
from dlcore.model import Model
from dlcore.serialization import load_model, save_model, write_npz_atomic
from tests.dlcore.serialization.helpers import RunningShift, X, edit_json, make_model, npz_arrays


class ObjectTags(Layer):
    """Keeps state numpy could only store by pickling: its save fails after the temp dir exists."""

    def forward(self, X, training):
        return X, lambda dY: dY

    def state(self):
        return {"tags": np.array([None], dtype=object)}


class PickyShift(RunningShift):
    """A layer whose load_state refuses negative offsets, as a layer validating its state may."""

    def load_state(self, state):
        if (state["shift"] < 0).any():
            raise ConfigError("negative shifts are not allowed")
        super().load_state(state)


def test_save_model_needs_a_model(tmp_path):
    with pytest.raises(ConfigError) as info:
        save_model(object(), tmp_path / "m")
    assert str(info.value) == "save_model needs a Model. Received: object"


def test_saving_into_an_existing_empty_directory_works(tmp_path):
    (tmp_path / "m").mkdir()
    model = make_model(seed=3)
    save_model(model, tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(X), model.predict(X))


def test_saving_over_a_regular_file_is_refused_and_keeps_it(tmp_path):
    (tmp_path / "m").write_text("keep me")
    with pytest.raises(SerializationError) as info:
        save_model(make_model(), tmp_path / "m")
    assert (
        str(info.value)
        == f"{tmp_path / 'm'}: exists and is not a saved model; refusing to replace it"
    )
    assert (tmp_path / "m").read_text() == "keep me"


def test_save_creates_missing_parent_directories(tmp_path):
    model = make_model(seed=4)
    save_model(model, tmp_path / "a" / "b" / "m")
    np.testing.assert_array_equal(
        load_model(tmp_path / "a" / "b" / "m").predict(X), model.predict(X)
    )


def test_a_save_failing_part_way_names_its_hidden_temporary_and_leaves_the_previous_save(saved):
    before = load_model(saved).predict(X)
    bad = Model(Sequential([Linear(8), ObjectTags(), Linear(1)]), in_features=4)
    with pytest.raises(SerializationError) as info:
        save_model(bad, saved)
    # the temporary is a hidden sibling named after the target (same filesystem: atomic rename)
    assert re.fullmatch(
        rf"{re.escape(str(saved.parent))}/\.model\.tmp-[^/]+/state\.npz: array "
        r"'model/1_objecttags\.tags' has object dtype, which can only be stored by pickling",
        str(info.value),
    )
    assert [p.name for p in saved.parent.iterdir()] == ["model"]
    np.testing.assert_array_equal(load_model(saved).predict(X), before)


@pytest.fixture
def other_filesystem_tmpdir(tmp_path, monkeypatch):
    """The process temp dir on another filesystem than tmp_path (as TMPDIR on tmpfs would be)."""
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test's temp dir")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        monkeypatch.setattr(tempfile, "tempdir", other)
        yield Path(other)


def test_save_works_when_the_process_temp_dir_is_on_another_filesystem(
    tmp_path, other_filesystem_tmpdir
):
    model = make_model(seed=6)
    save_model(model, tmp_path / "m")
    save_model(model, tmp_path / "m")  # replacing an earlier save too
    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(X), model.predict(X))
    assert list(other_filesystem_tmpdir.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_load_model_uses_the_given_ops(saved):
    ops = Ops()
    assert load_model(saved, ops=ops).ops is ops


def test_model_entry_that_is_not_an_object(saved):
    edit_json(saved, lambda m: m.update(model=[1, 2]))
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value) == (
        f"{saved / 'model.json'}: 'model' must be the JSON object of Model.get_config()"
    )


def test_non_float_model_dtype_is_refused_when_building(saved):
    edit_json(saved, lambda m: m["model"].update(dtype="int32"))
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value) == (
        f"{saved / 'model.json'}: cannot rebuild the model from its config: "
        "ParamBuffer dtype must be a float type. Received: int32"
    )


def test_malformed_state_record_names_the_file(saved):
    edit_json(saved, lambda m: m["state"][0].update(shape="8"))
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    rec = json.loads((saved / "model.json").read_text())["state"][0]
    assert str(info.value) == (
        f"{saved / 'model.json'}: state[0] must be a record with a unique name, shape, dtype "
        f"and sha256. Received {rec!r}"
    )


def test_state_record_of_another_shape_names_the_file(saved):
    edit_json(saved, lambda m: m["state"][0].update(shape=[9]))
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value) == (
        f"{saved / 'model.json'}: array 'model/1_runningshift.shift' has shape (9,); expected (8,)"
    )


def test_extra_array_in_the_state_archive_is_refused(saved):
    arrays = npz_arrays(saved / "state.npz")
    arrays["stowaway"] = np.zeros(2, np.float32)
    write_npz_atomic(saved / "state.npz", arrays)
    with pytest.raises(SerializationError) as info:
        load_model(saved)
    assert str(info.value) == (
        f"{saved / 'state.npz'}: arrays do not match. Missing: []; unexpected: ['stowaway']"
    )


def test_state_the_layer_itself_rejects_is_a_serialization_error(tmp_path):
    model = Model(Sequential([Linear(8), PickyShift(), Linear(1)]), in_features=4)
    model.layer.layers[1].shift[...] = -1.0  # saving does not ask the layer
    save_model(model, tmp_path / "m")
    with pytest.raises(SerializationError) as info:
        load_model(tmp_path / "m")
    assert str(info.value) == (
        f"{tmp_path / 'm' / 'state.npz'}: layer state rejected: negative shifts are not allowed"
    )
