"""CheckpointStore housekeeping: pruning, re-saves, the pointer's content, shard bounds on disk.

Without Spark. These close the gaps the mutation check (`make mutation`) found in
checkpoint.py; the recovery paths themselves are in test_checkpoint.py.
"""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from dlcore.layers import Linear, Sequential
from dlcore.model import Model
from dlcore.optimizers import SGD, Adam, OptimizerState
from dlcore.params import shard_bounds
from dlcore.serialization import SEAL, save_model, save_optimizer_state
from fraud_app.errors import TrainingError
from fraud_app.spark.checkpoint import FORMAT, CheckpointStore
from fraud_app.spark.checkpoint_parts import part_names
from tests.fraud_app.spark.test_checkpoint import _assert_same, _model, _state, damaged

OPT = Adam(learning_rate=0.01)


def _listing(store: CheckpointStore) -> list[str]:
    return sorted(p.name for p in store.dir.iterdir())


def test_by_default_the_two_newest_checkpoints_are_kept(tmp_path):
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    for group in (1, 2, 3, 4):
        store.save(_state(model, OPT, group), model, OPT)
    assert _listing(store) == ["LATEST.json", "group-000003", "group-000004"]
    assert store.load(OPT)[0].group == 4


def test_pruning_never_deletes_the_checkpoint_just_saved(tmp_path):
    """Resumed from group 3 while newer directories remain: group 3 is saved again, and kept."""
    store, model = CheckpointStore(tmp_path, fingerprint="fp", keep=2), _model()
    for group in (5, 6):
        store.save(_state(model, OPT, group), model, OPT)
    again = _state(model, OPT, 3)
    store.save(again, model, OPT)
    assert _listing(store) == ["LATEST.json", "group-000003", "group-000005", "group-000006"]
    _assert_same(store.load(OPT)[0], again)


def test_a_group_saved_again_replaces_its_directory(tmp_path):
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    store.save(_state(model, OPT, 2), model, OPT)
    second = _state(model, OPT, 2)
    second.params = second.params * 2
    second.iteration = 99
    store.save(second, model, OPT)
    _assert_same(store.load(OPT)[0], second)
    assert _listing(store) == ["LATEST.json", "group-000002"]


def test_the_store_directory_is_created_with_its_parents(tmp_path):
    store, model = CheckpointStore(tmp_path / "a" / "b", fingerprint="fp"), _model()
    state = _state(model, OPT, 1)
    store.save(state, model, OPT)
    _assert_same(store.load(OPT)[0], state)


def test_the_pointer_names_its_format_and_directory_and_the_save_is_logged(tmp_path, caplog):
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    with caplog.at_level(logging.INFO, logger="fraud_app.spark.checkpoint"):
        target = store.save(_state(model, OPT, 2), model, OPT)
    pointer = json.loads((tmp_path / "LATEST.json").read_text())
    assert pointer.pop(SEAL) and pointer == {"format": FORMAT, "group_dir": "group-000002"}
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        f"checkpoint written: {target} (iteration 8)"
    ]


def test_shards_of_a_stateless_optimizer_record_their_bounds(tmp_path):
    store, model, sgd = CheckpointStore(tmp_path, fingerprint="fp"), _model(), SGD()
    state = _state(model, sgd, 1)
    state.opt_states = [OptimizerState(step=5), OptimizerState(step=5)]
    target = store.save(state, model, sgd)
    size = model.params.size
    for rank in (0, 1):
        meta = json.loads((target / f"optimizer.rank-0000{rank}-of-00002.json").read_text())
        start, stop = shard_bounds(size, 2, rank)
        assert meta["shard"] == {"rank": rank, "world_size": 2, "start": start, "stop": stop}
    assert [s.step for s in store.load(sgd)[0].opt_states] == [5, 5]


def test_a_model_of_another_size_beside_the_optimizer_shard_is_refused(tmp_path):
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    target = store.save(_state(model, OPT, 1, world=1), model, OPT)
    bigger = Model(Sequential([Linear(6), Linear(1)]), in_features=3)
    save_model(bigger, target / "model")
    _edit_meta(target, lambda m: m.pop("parts"))  # as before parts were recorded
    with pytest.raises(TrainingError) as info:
        store.load(OPT)
    assert str(info.value) == damaged(
        store, target.name,
        f"{target / 'optimizer.rank-00000-of-00001.json'}: saved for stop={model.params.size}, "
        f"but stop={bigger.params.size} was requested",
    )  # fmt: skip


def _edit_meta(target, edit) -> None:
    """An unsealed meta.json, as checkpoints written before seals were (still read)."""
    meta = json.loads((target / "meta.json").read_text())
    del meta["sha256"]
    edit(meta)
    (target / "meta.json").write_text(json.dumps(meta))


def test_meta_without_history_loads_with_an_empty_history(tmp_path):
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    target = store.save(_state(model, OPT, 2), model, OPT)
    _edit_meta(target, lambda m: m.pop("history"))
    assert store.load(OPT)[0].history == []


def test_meta_missing_a_field_is_named(tmp_path):
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    target = store.save(_state(model, OPT, 2), model, OPT)
    _edit_meta(target, lambda m: m.pop("iteration"))
    with pytest.raises(TrainingError) as info:
        store.load(OPT)
    why = f"checkpoint {target}/meta.json is malformed: KeyError('iteration')"
    assert str(info.value) == damaged(store, target.name, why)


def test_saved_optimizer_follows_the_pointer_past_a_newer_partial_directory(tmp_path):
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    store.save(_state(model, OPT, 2), model, OPT)
    partial = tmp_path / "group-000003"  # a save killed after its optimizer shard was written
    save_optimizer_state(partial, SGD(), OptimizerState(step=1))
    assert type(store.saved_optimizer()) is Adam
    (tmp_path / "LATEST.json").unlink()
    assert type(store.saved_optimizer()) is SGD


@pytest.mark.parametrize(
    "field", ['"iteration": 8', '"group": 2', '"positions": [\n    [\n      0,\n      32']
)
def test_a_flipped_digit_in_meta_json_is_refused_not_resumed_from(tmp_path, field):
    """'8' -> '9' is one flipped bit: the run resumed at iteration 9 (or another data
    position) with the weights of iteration 8, and ended unlike an uninterrupted run."""
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    target = store.save(_state(model, OPT, 2), model, OPT)
    path = target / "meta.json"
    text = path.read_text()
    assert field in text, text
    path.write_text(text.replace(field, field[:-1] + chr(ord(field[-1]) ^ 1), 1))
    with pytest.raises(TrainingError, match=f"{path}: its content does not match its sha256"):
        store.load(OPT)


def _copy_rank_1_shard(older, newer) -> None:
    for f in older.glob("optimizer.rank-00001-of-*"):
        shutil.copy2(f, newer / f.name)


def _copy_model(older, newer) -> None:
    shutil.rmtree(newer / "model")
    shutil.copytree(older / "model", newer / "model")


@pytest.mark.parametrize(
    ("copy", "part"),
    [(_copy_rank_1_shard, "optimizer.rank-00001-of-00002.json"), (_copy_model, "model/model.json")],
)
def test_a_part_of_an_older_checkpoint_copied_in_is_damage_not_a_resume(
    tmp_path, caplog, copy, part
):
    """Each part is sealed on its own, so an older group's optimizer shard or model/ copied into
    the newest checkpoint (a partial restore) loaded beside its meta.json: iteration 8 resumed
    with the weights or Adam moments of iteration 4, silently."""
    store, model = CheckpointStore(tmp_path, fingerprint="fp", keep=3), _model()
    first, second = _state(model, OPT, 1), _state(model, OPT, 2)
    older, newer = store.save(first, model, OPT), store.save(second, model, OPT)
    copy(older, newer)
    with caplog.at_level(logging.WARNING, logger="fraud_app.spark.checkpoint"):
        loaded = store.load(OPT)[0]
    _assert_same(loaded, first)  # the intact checkpoint before it, not a mix
    assert [r.getMessage() for r in caplog.records] == [
        f"checkpoint {newer.name} (named by {tmp_path / 'LATEST.json'}) is damaged: checkpoint "
        f"{newer}: {part} is not the file this checkpoint was written with (its sha256 differs "
        "from the one meta.json records): a file of another checkpoint (an older group, another "
        f"run) was copied in, or it was edited; resuming from the newest intact checkpoint {older}"
    ]


def test_a_checkpoint_from_before_parts_were_recorded_loads(tmp_path):
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    state = _state(model, OPT, 2)
    _edit_meta(store.save(state, model, OPT), lambda m: m.pop("parts"))
    _assert_same(store.load(OPT)[0], state)


@pytest.mark.parametrize("parts", [[], {"model/model.json": "0" * 64}])
def test_malformed_parts_are_named(tmp_path, parts):
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    target = store.save(_state(model, OPT, 2), model, OPT)
    _edit_meta(target, lambda m: m.update(parts=parts))
    with pytest.raises(TrainingError, match="'parts' must record the sha256 of"):
        store.load(OPT)


@pytest.mark.parametrize("world", ["two", None, [2]])
def test_a_world_size_that_is_no_number_is_named_when_parts_are_checked(tmp_path, world):
    """A gap a hand mutation check of checkpoint_parts.py found (session 48): catching only
    KeyError there passed every test, so "two" left a bare ValueError naming no file."""
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    target = store.save(_state(model, OPT, 2), model, OPT)
    _edit_meta(target, lambda m: m.update(world_size=world))
    with pytest.raises(TrainingError, match=rf"checkpoint {target}/meta.json is malformed: "):
        store.load(OPT)


def test_parts_listing_the_names_without_their_digests_are_named(tmp_path):
    """The other gap of that check: without `isinstance(parts, dict)` a list of the right
    names passed the name check and failed as a TypeError naming no file."""
    store, model = CheckpointStore(tmp_path, fingerprint="fp"), _model()
    target = store.save(_state(model, OPT, 2), model, OPT)
    _edit_meta(target, lambda m: m.update(parts=part_names(m["world_size"])))
    with pytest.raises(TrainingError, match="'parts' must record the sha256 of"):
        store.load(OPT)


def test_a_part_gone_from_the_newest_checkpoint_is_damage_named_by_its_file(tmp_path, caplog):
    """The third gap of that check: catching another error than OSError around reading a
    part passed every test (no test removed one)."""
    store, model = CheckpointStore(tmp_path, fingerprint="fp", keep=3), _model()
    first, second = _state(model, OPT, 1), _state(model, OPT, 2)
    older, newer = store.save(first, model, OPT), store.save(second, model, OPT)
    (newer / "model" / "model.json").unlink()
    with caplog.at_level(logging.WARNING, logger="fraud_app.spark.checkpoint"):
        _assert_same(store.load(OPT)[0], first)
    [message] = [r.getMessage() for r in caplog.records]
    assert f"checkpoint {newer}: cannot read model/model.json: " in message
    assert message.endswith(f"resuming from the newest intact checkpoint {older}")
