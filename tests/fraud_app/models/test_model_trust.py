"""Scoring refuses a saved model another local user could have swapped in.

ensemble.json and each member's model.json are sealed with sha256 digests without a key:
anyone who can write the model directory can write a model that loads, and `score`,
`evaluate` and a fraud_app.ml model's `load` then score with it. As root, the first test
plays the other user for real (uid 65534 through `setpriv`, with nothing but cp and mv) in
a models directory that user created first; the others need no privileges.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from fraud_app.errors import UntrustedModelError
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.model_source import load_scoring_model
from tests.fraud_app.models.test_ensemble_member_seals import _ensemble

NOBODY = 65534
X = np.random.default_rng(0).normal(size=(4, 3))


@pytest.fixture
def shared_parent():
    """A root-owned directory every user may enter (not the 0700 pytest tmp_path)."""
    parent = Path(tempfile.mkdtemp(prefix="model-trust-"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="plays a second local user: needs root and setpriv",
)
def test_a_model_swapped_in_by_another_user_is_refused(shared_parent):
    models = shared_parent / "models"  # created first by the other user
    models.mkdir()
    os.chown(models, NOBODY, NOBODY)
    ours = _ensemble(0).save(models / "run-1")
    forged = _ensemble(10).save(shared_parent / "forged")  # the other user's weights
    subprocess.run(["chmod", "-R", "a+rX", str(forged)], check=True)
    swap = f"cp -r {forged} {models}/.new && mv {ours} {models}/.old && mv {models}/.new {ours}"
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    subprocess.run([*as_nobody, "sh", "-c", swap], check=True, timeout=30)
    # Before: the forged weights loaded and scored as run-1's, without a word.
    for load in (FraudEnsemble.load, load_scoring_model):
        with pytest.raises(UntrustedModelError, match=rf"run-1 is owned by uid {NOBODY}, not"):
            load(str(ours))


@pytest.mark.parametrize("where", ["directory", "member", "file"])
def test_a_model_every_user_can_write_is_refused_but_inspect_reads_it(tmp_path, where):
    path = _ensemble(0).save(tmp_path / "run-1")
    opened = {"directory": path, "member": path / "member-00",
              "file": path / "member-00" / "model.json"}[where]  # fmt: skip
    opened.chmod(0o777 if opened.is_dir() else 0o666)
    with pytest.raises(UntrustedModelError, match=r"writable by every user \(mode 0[67][67][67]\)"):
        FraudEnsemble.load(path)
    shown = FraudEnsemble.load(path, trusted=False)  # `fraud-app inspect`: a look
    np.testing.assert_array_equal(shown.predict_proba(X), _ensemble(0).predict_proba(X))


def test_a_parent_every_user_can_write_without_the_sticky_bit_is_refused(tmp_path):
    path = _ensemble(0).save(tmp_path / "open" / "run-1")
    (tmp_path / "open").chmod(0o1777)  # like /tmp: others cannot rename our entries
    FraudEnsemble.load(path)
    (tmp_path / "open").chmod(0o777)
    with pytest.raises(UntrustedModelError, match=r"its parent .*open is writable by every user"):
        load_scoring_model(str(path))


def test_a_group_writable_model_of_ones_own_still_loads(tmp_path):
    path = _ensemble(0).save(tmp_path / "run-1")
    (path / "member-00").chmod(0o775)  # umask 002 / a team's group: a choice
    np.testing.assert_array_equal(
        FraudEnsemble.load(path).predict_proba(X), _ensemble(0).predict_proba(X)
    )


@pytest.mark.parametrize("who", ["every user", "another user"])
def test_a_file_of_the_model_linked_to_one_another_user_can_write_is_refused(
    shared_parent, tmp_path, who
):
    """A model directory whose files are symlinks (a DVC or git-annex checkout, a folder
    linked to a team's cache) reads what the links point to. Before: a link's own mode and
    owner were checked (always 0777, ours), never its target, so ensemble.json linked to a
    file every user (or another user) could rewrite loaded: its seal has no key, and the
    scoring threshold and feature order are in it."""
    if who == "another user" and (not hasattr(os, "geteuid") or os.geteuid() != 0):
        pytest.skip("chowns a file to a second local user: needs root")
    path = _ensemble(0).save(tmp_path / "run-1")
    cache = shared_parent / "cache"
    cache.mkdir()
    target = cache / "ensemble.json"
    shutil.copy2(path / "ensemble.json", target)
    if who == "every user":
        target.chmod(0o666)
        expected = r"ensemble\.json is writable by every user \(mode 0666\)"
    else:
        os.chown(target, NOBODY, NOBODY)
        expected = rf"ensemble\.json is owned by uid {NOBODY}, not"
    (path / "ensemble.json").unlink()
    (path / "ensemble.json").symlink_to(target)
    with pytest.raises(UntrustedModelError, match=expected):
        FraudEnsemble.load(path)
    target.chmod(0o644)
    os.chown(target, os.geteuid(), os.getegid())
    np.testing.assert_array_equal(  # a link to a file of one's own: as before
        FraudEnsemble.load(path).predict_proba(X), _ensemble(0).predict_proba(X)
    )
