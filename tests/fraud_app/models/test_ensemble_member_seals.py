"""An ensemble directory whose member directories are not the ones it was saved with.

Each member's own model.json seal and array checksums pass when a whole member directory
is replaced, so a member of another run copied in, two members swapped or a partial sync
of a retrained model (some members new, some old, the old ensemble.json) loaded and scored
without a word. ensemble.json now records each member's seal."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dlcore.layers import Linear, ReLU, Sequential, Standardize
from dlcore.model import Model
from fraud_app.errors import ModelLoadError
from fraud_app.models.ensemble import FraudEnsemble
from tests.fraud_app.models.test_ensemble_file import export_onnx_cli


def _ensemble(seed: int) -> FraudEnsemble:
    members = []
    for k in range(2):
        m = Model(
            Sequential([Standardize(), Linear(4), ReLU(), Linear(1)]), in_features=3, seed=seed + k
        )
        m.layer.layers[0].set_statistics(np.full(3, 1.0 + k), np.full(3, 2.0))
        members.append(m)
    return FraudEnsemble(members, ["a", "b", "c"], {"scoring": {"threshold": 0.4}})


@pytest.fixture
def two(tmp_path):
    return _ensemble(0).save(tmp_path / "r1"), _ensemble(10).save(tmp_path / "r2")


def test_a_member_copied_from_another_run_is_refused(two):
    r1, r2 = two
    shutil.rmtree(r1 / "member-01")
    shutil.copytree(r2 / "member-01", r1 / "member-01")
    with pytest.raises(ModelLoadError, match=r"r1/member-01: this member is not the model "
                                             r"ensemble.json was saved with"):  # fmt: skip
        FraudEnsemble.load(r1)


def test_swapped_members_are_refused(two):
    r1, _ = two
    (r1 / "member-00").rename(r1 / "tmp")
    (r1 / "member-01").rename(r1 / "member-00")
    (r1 / "tmp").rename(r1 / "member-01")
    with pytest.raises(ModelLoadError, match=r"member-00: this member is not the model"):
        FraudEnsemble.load(r1)


def test_an_intact_ensemble_and_one_saved_before_member_seals_load(two, tmp_path):
    r1, _ = two
    X = np.random.default_rng(0).normal(size=(5, 3))
    want = _ensemble(0).predict_proba(X)
    np.testing.assert_array_equal(FraudEnsemble.load(r1).predict_proba(X), want)
    spec = json.loads((r1 / "ensemble.json").read_text())
    assert set(spec["member_seals"]) == {"member-00", "member-01"}
    from dlcore.serialization import seal

    assert spec["format"] == "fraud_app.ensemble/2"
    old = {k: v for k, v in spec.items() if k not in ("member_seals", "sha256")}
    old["format"] = "fraud_app.ensemble/1"
    (r1 / "ensemble.json").write_text(json.dumps(seal(old)))
    np.testing.assert_array_equal(FraudEnsemble.load(r1).predict_proba(X), want)


def test_export_onnx_of_a_swapped_member_is_one_line(two, tmp_path, capsys):
    pytest.importorskip("onnx")
    r1, r2 = two
    shutil.rmtree(r1 / "member-00")
    shutil.copytree(r2 / "member-00", r1 / "member-00")
    code, err = export_onnx_cli(r1, tmp_path, capsys)
    assert code == 2 and "Traceback" not in err
    assert "member-00: this member is not the model ensemble.json was saved with" in err


@pytest.mark.parametrize("removed", [("sha256",), ("sha256", "member_seals")])
def test_a_current_file_without_its_seals_is_refused(two, removed):
    """Feature names swapped and the seal deleted loaded (an unsealed file reads as one
    written before seals): the pyfunc model and the scorer read `a` as `b` without a word.
    A /2 file is always written sealed, with member_seals; an older /1 file still loads."""
    r1, _ = two
    spec = json.loads((r1 / "ensemble.json").read_text())
    spec["feature_names"] = spec["feature_names"][::-1]
    for key in removed:
        spec.pop(key)
    (r1 / "ensemble.json").write_text(json.dumps(spec))
    with pytest.raises(ModelLoadError, match=r"ensemble.json: lacks \[.*'sha256'.*\], which every "
                       r"fraud_app.ensemble/2 file is written with: the file was edited"):  # fmt: skip
        FraudEnsemble.load(r1)
