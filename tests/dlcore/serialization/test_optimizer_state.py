"""Optimizer state: one file pair per rank, shard bounds, slots and checksums checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcore.errors import ConfigError, SerializationError
from dlcore.optimizers import SGD, Adam, OptimizerState
from dlcore.params import shard_bounds
from dlcore.serialization import (
    load_optimizer_state,
    optimizer_state_paths,
    save_optimizer_state,
    seal,
    sha256_array,
    write_npz_atomic,
)
from tests.dlcore.serialization.helpers import npz_arrays, stepped_adam


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


def test_non_finite_optimizer_slots_are_refused_on_save_and_load(tmp_path):
    opt, state = stepped_adam()
    bad = OptimizerState(step=state.step, slots={k: v.copy() for k, v in state.slots.items()})
    name = sorted(bad.slots)[0]
    bad.slots[name][3] = np.nan
    with pytest.raises(SerializationError, match=f"array '{name}' holds 1 non-finite.*save"):
        save_optimizer_state(tmp_path, opt, bad)
    save_optimizer_state(tmp_path, opt, state)
    json_path, npz_path = optimizer_state_paths(tmp_path)
    arrays = npz_arrays(npz_path)
    arrays[name][0] = np.inf
    write_npz_atomic(npz_path, arrays)
    meta = json.loads(json_path.read_text())
    for rec in meta["slots"]:
        if rec["name"] == name:
            rec["sha256"] = sha256_array(arrays[name])
    json_path.write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it
    with pytest.raises(SerializationError, match=f"array '{name}' holds 1 non-finite.*load"):
        load_optimizer_state(tmp_path, Adam(learning_rate=0.01))
