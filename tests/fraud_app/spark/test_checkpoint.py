"""CheckpointStore without Spark: pointer last, fall-back past a broken pointer, finite weights only."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import numpy as np
import pytest

from dlcore.errors import SerializationError
from dlcore.layers import Linear, ReLU, Sequential
from dlcore.model import Model
from dlcore.optimizers import Adam
from dlcore.optimizers.base import optimizer_to_config
from dlcore.params import shard_bounds
from dlcore.serialization import read_npz, seal, sha256_array, write_npz_atomic
from fraud_app.errors import TrainingError
from fraud_app.spark.checkpoint import CheckpointStore, ForeignCheckpointError, TrainingState

LOGGER = "fraud_app.spark.checkpoint"


def _model() -> Model:
    return Model(Sequential([Linear(5), ReLU(), Linear(1)]), in_features=3, seed=2)


def _state(model: Model, optimizer: Adam, group: int, world: int = 2) -> TrainingState:
    rng = np.random.default_rng(group)
    params = rng.standard_normal(model.params.size).astype(np.float32)
    opt_states = []
    for r in range(world):
        start, stop = shard_bounds(model.params.size, world, r)
        st = optimizer.init_state(stop - start)
        for slot in st.slots.values():
            slot[...] = rng.standard_normal(slot.size)
        st.step = 3 * group
        opt_states.append(st)
    return TrainingState(
        iteration=4 * group, group=group, params=params, layer_state={},
        opt_states=opt_states, positions=[(0, 16 * group)] * world,
        history=[{"group": g} for g in range(group)],
    )  # fmt: skip


@pytest.fixture
def store_with_two(tmp_path):
    model, opt = _model(), Adam(learning_rate=0.01)
    store = CheckpointStore(tmp_path, fingerprint="fp", keep=3)
    states = [_state(model, opt, g) for g in (1, 2)]
    for st in states:
        store.save(st, model, opt)
    return store, states


def _assert_same(loaded: TrainingState, want: TrainingState) -> None:
    assert (loaded.iteration, loaded.group) == (want.iteration, want.group)
    np.testing.assert_array_equal(loaded.params, want.params)
    assert loaded.positions == want.positions and loaded.history == want.history
    for a, b in zip(loaded.opt_states, want.opt_states, strict=True):
        assert a.step == b.step
        for k in b.slots:
            np.testing.assert_array_equal(a.slots[k], b.slots[k])


def test_load_returns_exactly_the_newest_checkpoint(store_with_two, caplog):
    store, states = store_with_two
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded, _ = store.load(Adam(learning_rate=0.01))
    _assert_same(loaded, states[1])
    assert store.latest().name == "group-000002"
    assert caplog.text == ""


@pytest.mark.parametrize(
    "pointer",
    ["{not json", '{"format": "x"}', '{"group_dir": "../../etc"}', '{"group_dir": "group-000009"}',
     "[1, 2]", ""],
)  # fmt: skip
def test_malformed_pointer_falls_back_to_the_newest_intact_checkpoint(
    store_with_two, caplog, pointer
):
    store, states = store_with_two
    (store.dir / "LATEST.json").write_text(pointer)
    with pytest.raises(TrainingError, match="checkpoint pointer .*LATEST.json"):
        store.latest()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded, _ = store.load(Adam(learning_rate=0.01))
    _assert_same(loaded, states[1])
    assert "resuming from the newest intact checkpoint" in caplog.text
    assert "group-000002" in caplog.text


def test_a_flipped_digit_in_the_pointer_is_a_damaged_pointer_not_an_older_resume(
    store_with_two, caplog
):
    """'group-000002' -> 'group-000001' (one bit: '2' ^ 0x03 = '1') names a checkpoint that
    exists and loads: it resumed from group 1 without a word."""
    store, states = store_with_two
    pointer = store.dir / "LATEST.json"
    pointer.write_text(pointer.read_text().replace("group-000002", "group-000001"))
    with pytest.raises(TrainingError, match=rf"^checkpoint pointer {pointer}: its content does "
                       "not match its sha256 seal"):  # fmt: skip
        store.latest()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded, _ = store.load(Adam(learning_rate=0.01))
    _assert_same(loaded, states[1])
    assert "resuming from the newest intact checkpoint" in caplog.text


def test_fall_back_skips_a_partial_newest_directory(store_with_two, caplog):
    store, states = store_with_two
    (store.dir / "LATEST.json").write_text("garbage")
    (store.dir / "group-000002" / "meta.json").unlink()  # as if the save died before its meta
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded, _ = store.load(Adam(learning_rate=0.01))
    _assert_same(loaded, states[0])
    assert "group-000002 is not intact" in caplog.text


def test_fall_back_with_nothing_intact_is_a_clear_error(store_with_two):
    store, _ = store_with_two
    (store.dir / "LATEST.json").write_text("garbage")
    for name in ("group-000001", "group-000002"):
        (store.dir / name / "model" / "params.npz").write_bytes(b"truncated")
    with pytest.raises(TrainingError, match="no intact checkpoint is left"):
        store.load(Adam(learning_rate=0.01))


def test_fall_back_never_resumes_a_checkpoint_of_another_setup(store_with_two):
    store, _ = store_with_two
    (store.dir / "LATEST.json").write_text("garbage")
    other = CheckpointStore(store.dir, fingerprint="another")
    with pytest.raises(TrainingError, match="belongs to a different training setup"):
        other.load(Adam(learning_rate=0.01))


def test_a_save_that_fails_part_way_leaves_the_previous_checkpoint(store_with_two, caplog):
    store, states = store_with_two
    model, opt = _model(), Adam(learning_rate=0.01)
    broken = _state(model, opt, 3)
    next(iter(broken.opt_states[1].slots.values()))[0] = np.nan  # rank 1's shard fails to save
    with pytest.raises(SerializationError, match="non-finite"):
        store.save(broken, model, opt)
    assert json.loads((store.dir / "LATEST.json").read_text())["group_dir"] == "group-000002"
    assert not (store.dir / "group-000003").exists()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded, _ = store.load(opt)
    _assert_same(loaded, states[1])
    assert caplog.text == ""  # the pointer was never touched: no fall-back needed


def test_non_finite_weights_are_refused_on_save(store_with_two):
    store, _ = store_with_two
    model, opt = _model(), Adam(learning_rate=0.01)
    st = _state(model, opt, 3)
    st.params[0] = np.inf
    with pytest.raises(SerializationError, match="'model/0_linear.W' holds 1 non-finite"):
        store.save(st, model, opt)
    assert store.latest().name == "group-000002"


def _only_the_newest(store) -> None:
    """Leave group-000002 alone: no earlier checkpoint to fall back to."""
    shutil.rmtree(store.dir / "group-000001")


def damaged(store, group: str, why: str) -> str:
    """The error when the only checkpoint, the one LATEST.json names, is damaged."""
    return (
        f"checkpoint {group} (named by {store.dir / 'LATEST.json'}) is damaged: {why}, and no "
        f"intact checkpoint is left in {store.dir}; delete the directory to start over"
    )


def test_non_finite_weights_in_a_checkpoint_are_refused_on_load(store_with_two):
    """A checkpoint edited by another tool (checksums updated to match) still cannot load NaN."""
    store, _ = store_with_two
    _only_the_newest(store)
    model_dir = store.dir / "group-000002" / "model"
    arrays = read_npz(model_dir / "params.npz")
    arrays["model/0_linear.W"].reshape(-1)[0] = np.nan
    write_npz_atomic(model_dir / "params.npz", arrays)
    meta = json.loads((model_dir / "model.json").read_text())
    for rec in meta["params"]:
        rec["sha256"] = sha256_array(arrays[rec["name"]])
    (model_dir / "model.json").write_text(
        json.dumps(seal(meta))
    )  # a valid seal: the checks behind it
    group_meta = json.loads((model_dir.parent / "meta.json").read_text())
    group_meta["parts"]["model/model.json"] = hashlib.sha256(
        (model_dir / "model.json").read_bytes()
    ).hexdigest()
    (model_dir.parent / "meta.json").write_text(json.dumps(seal(group_meta)))
    with pytest.raises(TrainingError, match="holds 1 non-finite values.*refusing to load"):
        store.load(Adam(learning_rate=0.01))


# -- exact messages and edge cases (closing gaps the mutation check found) -------------------
def test_an_empty_directory_has_nothing_to_resume(tmp_path):
    assert CheckpointStore(tmp_path, fingerprint="fp").load(Adam(learning_rate=0.01)) is None


def test_fall_back_logs_the_problem_and_skips_each_broken_directory_by_name(store_with_two, caplog):
    store, states = store_with_two
    (store.dir / "LATEST.json").write_text("[]")
    (store.dir / "group-000003").mkdir()  # empty: no meta.json
    (store.dir / "group-000009").write_text("a file, not a checkpoint")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded, _ = store.load(Adam(learning_rate=0.01))
    _assert_same(loaded, states[1])
    messages = [r.getMessage() for r in caplog.records]
    pointer = store.dir / "LATEST.json"
    meta = store.dir / "group-000003" / "meta.json"
    assert messages == [
        f"checkpoint {store.dir / 'group-000003'} is not intact, skipping it: checkpoint "
        f"{store.dir / 'group-000003'} has no readable meta.json: [Errno 2] No such file or "
        f"directory: '{meta}'",
        f"checkpoint pointer {pointer} is malformed: TypeError('list indices must be integers or "
        f"slices, not str'); resuming from the newest intact checkpoint {store.dir / 'group-000002'}",
    ]


def test_no_intact_checkpoint_message(store_with_two):
    store, _ = store_with_two
    (store.dir / "LATEST.json").write_text('{"group_dir": 3}')
    for name in ("group-000001", "group-000002"):
        (store.dir / name / "meta.json").write_text("{}")
    with pytest.raises(TrainingError) as info:
        store.load(Adam(learning_rate=0.01))
    assert str(info.value) == (
        f"checkpoint pointer {store.dir / 'LATEST.json'} names 3, not a directory group-NNNNNN, "
        f"and no intact checkpoint is left in {store.dir}; delete the directory to start over"
    )


@pytest.mark.parametrize(
    "meta, found", [("[1]", "'list'"), ('{"format": "other/1"}', "'other/1'"), ("{}", "None")]
)
def test_load_names_a_checkpoint_of_another_format(store_with_two, meta, found):
    store, _ = store_with_two
    _only_the_newest(store)
    (store.dir / "group-000002" / "meta.json").write_text(meta)
    with pytest.raises(TrainingError) as info:
        store.load(Adam(learning_rate=0.01))
    assert str(info.value) == damaged(
        store, "group-000002",
        f"checkpoint {store.dir / 'group-000002'} has format {found}; expected "
        "'fraud_app.checkpoint/1'",
    )  # fmt: skip


def test_load_names_unreadable_meta(store_with_two):
    store, _ = store_with_two
    _only_the_newest(store)
    (store.dir / "group-000002" / "meta.json").write_text("{not json")
    with pytest.raises(TrainingError) as info:
        store.load(Adam(learning_rate=0.01))
    assert str(info.value).startswith(
        f"checkpoint group-000002 (named by {store.dir / 'LATEST.json'}) is damaged: checkpoint "
        f"{store.dir / 'group-000002'} has no readable meta.json: Expecting property"
    )


def test_another_setup_message(store_with_two):
    store, _ = store_with_two
    with pytest.raises(TrainingError) as info:
        CheckpointStore(store.dir, fingerprint="other").load(Adam(learning_rate=0.01))
    assert str(info.value) == (
        f"checkpoint {store.dir / 'group-000002'} belongs to a different training setup (model, "
        "optimizer, data, worker count or another setting changed). Use a new checkpoint "
        "directory or delete this one to start over."
    )


def test_another_setup_is_refused_naming_what_differs(tmp_path):
    """meta.json keeps the setup its fingerprint digests, so a refusal names each part that
    differs with its values (it said only 'model, optimizer, data or worker count changed')."""
    model, opt = _model(), Adam(learning_rate=0.01)
    setup = {"model": model.get_config(), "num_workers": 2, "mixup_alpha": 0.0, "data": "d1"}
    CheckpointStore(tmp_path, fingerprint="fp", setup=setup).save(_state(model, opt, 1), model, opt)
    wider = Model(Sequential([Linear(7), ReLU(), Linear(1)]), in_features=3, seed=2)
    now = {**setup, "model": wider.get_config(), "mixup_alpha": 0.4, "data": "d2"}
    with pytest.raises(ForeignCheckpointError) as info:
        CheckpointStore(tmp_path, fingerprint="other", setup=now).load(opt)
    message = str(info.value)
    assert "training.distributed.mixup_alpha: 0.0 then, 0.4 now" in message
    assert "the training data (its labels, features or weights) changed" in message
    assert "model.layer.config.layers[0].config.units 5 then, 7 now" in message
    assert "num_workers" not in message


def test_layer_state_comes_back(tmp_path):
    from dlcore.layers.batchnorm import BatchNorm1d

    model = Model(Sequential([Linear(4), BatchNorm1d(), Linear(1)]), in_features=3, seed=1)
    opt = Adam(learning_rate=0.01)
    state = _state(model, opt, 1, world=1)
    state.layer_state = {k: np.full_like(v, 0.5) for k, v in model.layer.state().items()}
    assert state.layer_state
    store = CheckpointStore(tmp_path, fingerprint="fp")
    store.save(state, model, opt)
    loaded, _ = store.load(opt)
    assert sorted(loaded.layer_state) == sorted(state.layer_state)
    for k, v in state.layer_state.items():
        np.testing.assert_array_equal(loaded.layer_state[k], v)


def test_saved_optimizer_is_the_one_of_the_checkpoint(store_with_two):
    store, _ = store_with_two
    opt = store.saved_optimizer()
    assert optimizer_to_config(opt) == optimizer_to_config(Adam(learning_rate=0.01))
    (store.dir / "LATEST.json").write_text("garbage")  # falls back to the newest directory
    assert type(store.saved_optimizer()) is Adam
    (store.dir / "LATEST.json").unlink()
    assert type(store.saved_optimizer()) is Adam


def test_saved_optimizer_errors_name_the_problem(tmp_path, store_with_two):
    with pytest.raises(TrainingError) as info:
        CheckpointStore(tmp_path / "none", fingerprint=None).saved_optimizer()
    assert str(info.value) == (
        f"{tmp_path / 'none'} holds no checkpoint (no LATEST.json, no group-*)"
    )
    store, _ = store_with_two
    shard = store.dir / "group-000002" / "optimizer.rank-00000-of-00002.json"
    meta = json.loads(shard.read_text())
    meta["optimizer"] = {"type": "Nope"}
    shard.write_text(json.dumps(seal(meta)))  # a valid seal: the checks behind it
    with pytest.raises(TrainingError) as info:
        store.saved_optimizer()
    assert str(info.value).startswith(
        f"{shard}: unknown optimizer: unknown optimizer {{'type': 'Nope'}}"
    )
    for p in (store.dir / "group-000002").glob("optimizer.rank-00000-*"):
        p.unlink()
    with pytest.raises(TrainingError) as info:
        store.saved_optimizer()
    assert (
        str(info.value)
        == f"checkpoint {store.dir / 'group-000002'} has no optimizer shard of rank 0"
    )


# -- a damaged checkpoint named by LATEST.json: the newest intact one before it -------------
def _flip_a_digit(path) -> None:
    """'"iteration": 8' -> 9: one flipped bit in a sealed meta.json."""
    text = path.read_text()
    at = text.index('"iteration": ') + len('"iteration": ')
    path.write_text(text[:at] + chr(ord(text[at]) ^ 1) + text[at + 1 :])


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda g: _flip_a_digit(g / "meta.json"), "its content does not match its sha256"),
        (lambda g: (g / "model" / "params.npz").unlink(), "params.npz"),
        (lambda g: (g / "optimizer.rank-00001-of-00002.npz").unlink(), "rank-00001"),
    ],
    ids=["seal", "missing-weights", "missing-shard"],
)
def test_a_damaged_checkpoint_falls_back_to_the_one_before_it(store_with_two, caplog, damage, why):
    """It failed the run (delete the directory to start over: every iteration lost)."""
    store, states = store_with_two
    newest = store.dir / "group-000002"
    damage(newest)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded, _ = store.load(Adam(learning_rate=0.01))
    _assert_same(loaded, states[0])
    last = caplog.records[-1].getMessage()
    assert last.startswith(
        f"checkpoint group-000002 (named by {store.dir / 'LATEST.json'}) is damaged: "
    ), last
    assert why in last and last.endswith(
        f"; resuming from the newest intact checkpoint {store.dir / 'group-000001'}"
    ), last


def test_a_newer_directory_the_pointer_never_named_is_not_taken(store_with_two, caplog):
    """group-000003 is complete but LATEST.json never named it (a save killed before the
    pointer): a checkpoint exists only once the pointer names it."""
    store, states = store_with_two
    shutil.copytree(store.dir / "group-000002", store.dir / "group-000003")
    _flip_a_digit(store.dir / "group-000002" / "meta.json")
    loaded, _ = store.load(Adam(learning_rate=0.01))
    _assert_same(loaded, states[0])


def test_a_lost_pointer_resumes_from_the_newest_intact_directory(store_with_two, caplog):
    """No LATEST.json beside checkpoint directories: the run started from iteration 0
    without a word."""
    store, states = store_with_two
    (store.dir / "LATEST.json").unlink()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded, _ = store.load(Adam(learning_rate=0.01))
    _assert_same(loaded, states[1])
    assert caplog.records[-1].getMessage() == (
        f"{store.dir} has checkpoint directories but no LATEST.json; resuming from the newest "
        f"intact checkpoint {store.dir / 'group-000002'}"
    )


def test_a_first_save_killed_part_way_starts_over_with_a_warning(tmp_path, caplog):
    store = CheckpointStore(tmp_path, fingerprint="fp")
    (tmp_path / "group-000001" / "model").mkdir(parents=True)  # no meta.json, no pointer
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert store.load(Adam(learning_rate=0.01)) is None
    assert caplog.records[-1].getMessage() == (
        f"{tmp_path} has checkpoint directories but no LATEST.json, and none of them is "
        "intact; starting from iteration 0"
    )


def test_a_checkpoint_of_an_older_release_is_refused_as_one(tmp_path):
    """Session 29 (upgrades): a run interrupted under a release before session 23 (its
    meta.json without `setup`, as that release's store wrote it), then `train --run NAME`
    after the upgrade: refused saying 'model, optimizer, data, worker count or another
    setting changed' while the operator had changed nothing but the release."""
    model, opt = _model(), Adam(learning_rate=0.01)
    CheckpointStore(tmp_path, fingerprint="old").save(_state(model, opt, 1), model, opt)
    assert "setup" not in json.loads((tmp_path / "group-000001" / "meta.json").read_text())
    setup = {"model": model.get_config(), "num_workers": 2, "mixup_alpha": 0.0, "data": "d1"}
    with pytest.raises(ForeignCheckpointError) as info:
        CheckpointStore(tmp_path, fingerprint="new", setup=setup).load(opt)
    assert str(info.value) == (
        f"checkpoint {tmp_path / 'group-000001'} belongs to a different training setup: it "
        "was written by an older fraud-app release (its meta.json, format "
        "fraud_app.checkpoint/1, records no training setup: checkpoints written before session "
        "23), whose training differs from this release's, so the run it belongs to cannot "
        f"resume under this release. Delete {tmp_path} and the run's other checkpoint "
        "directories (paths.checkpoints/<run>/), or train under a new --run name, to start over."
    )
