"""A resume refuses a checkpoint another local user could have swapped in.

The seals are sha256 digests without a key, so anyone who can write the directory can
write a checkpoint that loads. As root, the first test plays the other user for real
(uid 65534 through `setpriv`, with nothing but cp and mv) in a directory that user
created first; the others need no privileges.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dlcore.optimizers import Adam
from fraud_app.errors import TrainingError
from fraud_app.spark.checkpoint import CheckpointStore
from tests.fraud_app.spark.test_checkpoint import _assert_same, _model, _state

OPT = Adam(learning_rate=0.01)
NOBODY = 65534
as_root_with_setpriv = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="plays a second local user: needs root and setpriv",
)


@pytest.fixture
def shared_parent():
    """A root-owned directory every user may enter (not the 0700 pytest tmp_path)."""
    parent = Path(tempfile.mkdtemp(prefix="ckpt-trust-"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


@as_root_with_setpriv
def test_a_checkpoint_swapped_in_by_another_user_is_refused(shared_parent):
    model = _model()
    shared = shared_parent / "checkpoints"  # created first by the other user
    shared.mkdir()
    os.chown(shared, NOBODY, NOBODY)
    store = CheckpointStore(shared, fingerprint="fp")
    store.save(_state(model, OPT, 2), model, OPT)
    forged = shared_parent / "forged"  # what the other user wants this run to resume from
    CheckpointStore(forged, fingerprint="fp").save(_state(model, OPT, 7), model, OPT)
    subprocess.run(["chmod", "-R", "a+rX", str(forged)], check=True)
    swap = (
        f"cp -r {forged}/group-000007 {shared}/ && cp {forged}/LATEST.json {shared}/.p && "
        f"mv -f {shared}/.p {shared}/LATEST.json"
    )
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    subprocess.run([*as_nobody, "sh", "-c", swap], check=True, timeout=30)
    # Before: the forged group 7 loaded as this run's own state, without a word.
    with pytest.raises(TrainingError, match=rf"owned by uid {NOBODY}, not by this process"):
        store.load(OPT)


@pytest.mark.parametrize("where", ["directory", "group", "file"])
def test_a_checkpoint_every_user_can_write_is_refused(tmp_path, where):
    model = _model()
    store = CheckpointStore(tmp_path / "ck", fingerprint="fp")
    store.save(_state(model, OPT, 2), model, OPT)
    opened = {
        "directory": store.dir,
        "group": store.dir / "group-000002",
        "file": store.dir / "group-000002" / "meta.json",
    }[where]
    opened.chmod(0o777 if opened.is_dir() else 0o666)
    with pytest.raises(TrainingError, match=r"writable by every user \(mode 0[67][67][67]\)"):
        store.load(OPT)


def test_a_parent_every_user_can_write_without_the_sticky_bit_is_refused(tmp_path):
    model = _model()
    store = CheckpointStore(tmp_path / "open" / "ck", fingerprint="fp")
    state = _state(model, OPT, 2)
    store.save(state, model, OPT)
    (tmp_path / "open").chmod(0o1777)  # like /tmp: others cannot rename our entries
    _assert_same(store.load(OPT)[0], state)
    (tmp_path / "open").chmod(0o777)
    with pytest.raises(TrainingError, match=r"its parent .*open is writable by every user"):
        store.load(OPT)


def test_a_group_writable_checkpoint_of_ones_own_still_resumes_and_inspection_reads_any(tmp_path):
    model = _model()
    store = CheckpointStore(tmp_path / "ck", fingerprint="fp")
    state = _state(model, OPT, 2)
    store.save(state, model, OPT)
    (store.dir / "group-000002").chmod(0o775)  # umask 002 / a team's group: a choice
    _assert_same(store.load(OPT)[0], state)
    (store.dir / "group-000002").chmod(0o777)
    _assert_same(CheckpointStore(store.dir, fingerprint=None).load(OPT)[0], state)  # inspect


def test_a_checkpoint_under_a_symlinked_folder_resumes(tmp_path):
    """Review 38: a symlink among the parents (/home -> /usr/home, a scratch link) was
    refused as 'writable by every user (mode 0777)', the mode every link has."""
    model = _model()
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    store = CheckpointStore(tmp_path / "link" / "ck", fingerprint="fp")
    state = _state(model, OPT, 2)
    store.save(state, model, OPT)
    _assert_same(store.load(OPT)[0], state)


@pytest.mark.parametrize("opened", ["target", "target's parent"])
def test_a_symlinked_checkpoint_directory_is_checked_where_it_points(tmp_path, opened):
    """Review 38: a checkpoint directory that is a link to a directory every user can
    write (or to one under such a parent) resumed: only the link itself was looked at."""
    model = _model()
    (tmp_path / "scratch").mkdir()
    target = tmp_path / "scratch" / "ck"
    target.mkdir()
    link = tmp_path / "ck"
    link.symlink_to(target, target_is_directory=True)
    store = CheckpointStore(link, fingerprint="fp")
    state = _state(model, OPT, 2)
    store.save(state, model, OPT)
    _assert_same(store.load(OPT)[0], state)
    (target if opened == "target" else target.parent).chmod(0o777)
    with pytest.raises(TrainingError, match=r"writable by every user"):
        store.load(OPT)
