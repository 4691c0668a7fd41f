"""Optimizer state files: every refusal names the file and what differed (messages pinned whole).

Also the edges of a shard (empty, unknown stop) and a stateless optimizer. These close
the gaps the mutation check (`make mutation`) found in optimizer_state.py.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile

import numpy as np
import pytest

from dlcore.errors import ConfigError, SerializationError
from dlcore.optimizers import SGD, Adam, OptimizerState
from dlcore.serialization import (
    load_optimizer_state,
    optimizer_state_paths,
    save_optimizer_state,
    seal,
    sha256_array,
    write_npz_atomic,
)
from tests.dlcore.serialization.helpers import npz_arrays, stepped_adam


def _saved(tmp_path, **shard):
    opt, state = stepped_adam()
    save_optimizer_state(tmp_path, opt, state, **shard)
    return opt, *optimizer_state_paths(tmp_path)


def _edit(json_path, edit) -> None:
    meta = json.loads(json_path.read_text())
    edit(meta)
    json_path.write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it


def _load_error(tmp_path, opt, **shard) -> str:
    with pytest.raises(SerializationError) as info:
        load_optimizer_state(tmp_path, opt, **shard)
    return str(info.value)


def test_save_needs_an_optimizer(tmp_path):
    with pytest.raises(ConfigError) as info:
        save_optimizer_state(tmp_path, "adam", OptimizerState(step=0))
    assert str(info.value) == "optimizer must be an Optimizer. Received: str"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"world_size": True}, "world_size must be an integer >= 1. Received: True"),
        ({"rank": 0.5}, "rank must be an integer in [0, 1). Received: 0.5"),
    ],
)
def test_bools_and_floats_are_not_shard_integers(tmp_path, kwargs, message):
    with pytest.raises(ConfigError) as info:
        save_optimizer_state(tmp_path, SGD(), OptimizerState(step=0), **kwargs)
    assert str(info.value) == message


def test_an_empty_shard_round_trips(tmp_path):
    opt = Adam()
    save_optimizer_state(tmp_path, opt, opt.init_state(0), start=3, stop=3)
    back = load_optimizer_state(tmp_path, opt, start=3, stop=3)
    assert back.slots["m"].shape == (0,) and back.slots["v"].shape == (0,)


def test_slot_lengths_are_named_against_the_shard(tmp_path):
    opt, state = stepped_adam()
    with pytest.raises(ConfigError) as info:
        save_optimizer_state(tmp_path, opt, state, start=2, stop=5)
    assert str(info.value) == (
        "slot arrays must all have the shard's length 3 ([start, stop) = [2, 5)). "
        "Received lengths [10]"
    )
    uneven = OptimizerState(
        step=1, slots={"m": np.zeros(10, np.float32), "v": np.zeros(12, np.float32)}
    )
    with pytest.raises(ConfigError) as info:
        save_optimizer_state(tmp_path, opt, uneven)
    assert str(info.value) == (
        "slot arrays must all have the shard's length 10 ([start, stop) = [0, 10)). "
        "Received lengths [10, 12]"
    )
    assert list(tmp_path.iterdir()) == []


def test_non_finite_slot_messages_name_the_archive_and_the_action(tmp_path):
    opt, state = stepped_adam()
    bad = OptimizerState(step=state.step, slots={k: v.copy() for k, v in state.slots.items()})
    bad.slots["m"][3] = np.nan
    npz_path = optimizer_state_paths(tmp_path)[1]
    tail = (
        "(NaN or inf); refusing to {} it. Training diverged: lower the learning rate or clip "
        "gradients, and resume from an earlier checkpoint"
    )
    with pytest.raises(SerializationError) as info:
        save_optimizer_state(tmp_path, opt, bad)
    assert str(info.value) == f"{npz_path}: array 'm' holds 1 non-finite values " + tail.format(
        "save"
    )
    save_optimizer_state(tmp_path, opt, state)
    json_path = optimizer_state_paths(tmp_path)[0]
    arrays = npz_arrays(npz_path)
    arrays["v"][:2] = np.inf
    write_npz_atomic(npz_path, arrays)
    _edit(json_path, lambda m: m["slots"][1].update(sha256=sha256_array(arrays["v"])))
    assert _load_error(tmp_path, opt) == (
        f"{npz_path}: array 'v' holds 2 non-finite values " + tail.format("load")
    )


def test_wrong_format_tag_is_named_with_what_was_found(tmp_path):
    opt, json_path, _ = _saved(tmp_path)
    _edit(json_path, lambda m: m.update(format="torch"))
    assert _load_error(tmp_path, opt) == (
        f"{json_path}: format tag must be 'dlcore.optimizer_state'. Received 'torch'"
    )


def test_shard_mismatch_and_malformed_shard_name_the_file(tmp_path):
    opt, json_path, _ = _saved(tmp_path)
    assert _load_error(tmp_path, opt, stop=9) == (
        f"{json_path}: saved for stop=10, but stop=9 was requested"
    )
    _edit(json_path, lambda m: m.update(shard=[0, 1]))
    assert _load_error(tmp_path, opt) == (
        f"{json_path}: 'shard' must be an object with rank/world_size/start/stop"
    )


def test_an_unknown_saved_stop_takes_the_requested_one(tmp_path):
    opt, json_path, _ = _saved(tmp_path)
    _edit(json_path, lambda m: m["shard"].update(stop=None))
    assert load_optimizer_state(tmp_path, opt, stop=10).slots["m"].shape == (10,)
    # with no stop on either side the shard is taken as empty, which these slots are not
    assert _load_error(tmp_path, opt) == f"{json_path}: array 'm' has shape (10,); expected (0,)"


def test_optimizer_entry_that_is_not_an_object(tmp_path):
    opt, json_path, _ = _saved(tmp_path)
    _edit(json_path, lambda m: m.update(optimizer=5))
    assert _load_error(tmp_path, opt) == f"{json_path}: saved by optimizer 5, cannot load into Adam"


def test_a_changed_optimizer_config_is_logged_and_the_new_one_kept(tmp_path, caplog):
    _, json_path, _ = _saved(tmp_path)
    with caplog.at_level(logging.WARNING, logger="dlcore.serialization.optimizer_state"):
        back = load_optimizer_state(tmp_path, Adam(learning_rate=0.5))
    assert back.step == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"{json_path}: optimizer config differs from the saved one; keeping the new one"
    ]


@pytest.mark.parametrize("step", [-1, True, "2"])
def test_step_must_be_a_non_negative_integer(tmp_path, step):
    opt, json_path, _ = _saved(tmp_path)
    _edit(json_path, lambda m: m.update(step=step))
    assert _load_error(tmp_path, opt) == (
        f"{json_path}: 'step' must be an integer >= 0. Received {step!r}"
    )


def test_malformed_slot_record_names_the_file(tmp_path):
    opt, json_path, _ = _saved(tmp_path)
    _edit(json_path, lambda m: m["slots"][0].pop("dtype"))
    rec = json.loads(json_path.read_text())["slots"][0]
    assert _load_error(tmp_path, opt) == (
        f"{json_path}: slots[0] must be a record with a unique name, shape, dtype and sha256. "
        f"Received {rec!r}"
    )


def test_slots_of_another_kind_are_named(tmp_path):
    opt, json_path, npz_path = _saved(tmp_path)
    _edit(json_path, lambda m: m.update(slots=m["slots"][:1]))
    write_npz_atomic(npz_path, {"m": npz_arrays(npz_path)["m"]})
    assert _load_error(tmp_path, opt) == (
        f"{json_path}: Adam keeps slots ['m', 'v']; the file has ['m']"
    )


def test_integer_slots_are_refused(tmp_path):
    opt, json_path, _ = _saved(tmp_path)
    _edit(json_path, lambda m: m["slots"][0].update(dtype="<i4"))
    assert _load_error(tmp_path, opt) == (
        f"{json_path}: slot 'm' must have a float dtype. Received int32"
    )


def test_extra_array_in_the_slot_archive_is_refused(tmp_path):
    opt, _, npz_path = _saved(tmp_path)
    write_npz_atomic(npz_path, {**npz_arrays(npz_path), "stowaway": np.zeros(10, np.float32)})
    assert _load_error(tmp_path, opt) == (
        f"{npz_path}: arrays do not match. Missing: []; unexpected: ['stowaway']"
    )


def test_stateless_optimizer_without_bounds_round_trips(tmp_path):
    save_optimizer_state(tmp_path, SGD(), OptimizerState(step=4))
    assert json.loads(optimizer_state_paths(tmp_path)[0].read_text())["shard"]["stop"] is None
    back = load_optimizer_state(tmp_path, SGD())
    assert back.step == 4 and back.slots == {}


@pytest.mark.parametrize("stop", ["x", -5, True, 2.5])
def test_a_saved_stop_that_is_no_bound_is_named_with_its_file(tmp_path, stop):
    """Read when stop=None is asked for: "x" was a TypeError naming no file, -5 asked
    for slots of shape (-5,), True was read as 1 (session 48)."""
    opt, json_path, _ = _saved(tmp_path, start=0, stop=10)
    _edit(json_path, lambda m: m["shard"].update(stop=stop))
    shard = {"rank": 0, "start": 0, "stop": stop, "world_size": 1}  # as saved: sorted
    assert _load_error(tmp_path, opt) == (
        f"{json_path}: 'shard' must hold integers rank, world_size, start >= 0 and stop >= "
        f"start (or null). Received {shard!r}"
    )


def test_a_saved_shard_past_the_parameter_limit_is_refused_before_allocating(tmp_path):
    """A stop of 2**30 with records and .npy headers to match (a few bytes: a compressed
    archive of zeros fills them) allocated 4 GiB per slot before the data ran out."""
    opt, json_path, npz_path = _saved(tmp_path, start=0, stop=10)
    big = 2**30

    def edit(meta):
        meta["shard"]["stop"] = big
        for rec in meta["slots"]:
            rec["shape"] = [big]

    _edit(json_path, edit)
    with zipfile.ZipFile(npz_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("m", "v"):
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": "<f4", "fortran_order": False, "shape": (big,)}
            )
            zf.writestr(f"{name}.npy", header.getvalue() + bytes(64))
    assert _load_error(tmp_path, opt) == (
        f"{json_path}: the shard [0, {big}) holds {big} parameters, over the limit of "
        f"{2**28} (dlcore.serialization.model.MAX_PARAMETERS); refusing to allocate its slots"
    )
