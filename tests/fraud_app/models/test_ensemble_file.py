"""A damaged or edited ensemble.json is one ModelLoadError naming the file, and
`fraud-app export-onnx` (which loads it without Spark) says so in one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcore.layers import Linear, Sequential
from dlcore.model import Model
from dlcore.serialization import seal
from fraud_app.errors import ModelLoadError
from fraud_app.models.ensemble import FraudEnsemble
from pipelines.cli import main


@pytest.fixture
def saved(tmp_path):
    members = [Model(Sequential([Linear(1)]), in_features=3, seed=k) for k in range(2)]
    meta = {"scoring": {"threshold": 0.4, "alert_budget": 0.01}}
    return FraudEnsemble(members, ["a", "b", "c"], meta).save(tmp_path / "model")


def _edit(path, **changes):
    spec = json.loads((path / "ensemble.json").read_text())
    # a valid seal: the checks behind it
    (path / "ensemble.json").write_text(json.dumps(seal({**spec, **changes})))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", r"ensemble.json: expected a JSON object. Received list"),
        ('"model"', r"ensemble.json: expected a JSON object. Received str"),
        ("[" * 100_000 + "]" * 100_000, r"ensemble.json: JSON nested too deeply to read"),
        ("\udcff", r"ensemble.json: not valid JSON"),
    ],
)
def test_a_file_that_is_not_an_object_is_named(saved, text, message):
    (saved / "ensemble.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ModelLoadError, match=message):
        FraudEnsemble.load(saved)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metadata": "abc"}, r"'metadata' must be a JSON object. Received str"),
        ({"metadata": {"scoring": [1]}}, r"metadata.scoring must be a JSON object"),
        (
            {"metadata": {"scoring": {"threshold": "x"}}},
            r"metadata.scoring.threshold must be a finite number .*Received 'x'",
        ),
        ({"feature_names": [1, 2, 3]}, r"ensemble.json: feature names must be non-empty, "
                                       r"unique strings; not non-empty strings: \[1, 2, 3\]"),
        ({"feature_names": ["a", "a", "c"]}, r"repeated: \['a'\]"),
        ({"feature_names": ["a", "", "c"]}, r"not non-empty strings: \[''\]"),
        # was scored as the mean of the members without a word
        ({"combine": "max_probability"}, r"combine is 'max_probability'; this version scores "
                                         r"ensembles by 'mean_probability' only"),
    ],
)  # fmt: skip
def test_edited_fields_are_named(saved, changes, message):
    _edit(saved, **changes)
    with pytest.raises(ModelLoadError, match=message):
        FraudEnsemble.load(saved)


def test_an_intact_file_still_loads(saved):
    loaded = FraudEnsemble.load(saved)
    assert loaded.feature_names == ["a", "b", "c"]
    assert loaded.metadata["scoring"]["threshold"] == 0.4
    X = np.random.default_rng(0).normal(size=(4, 3))
    assert loaded.predict_proba(X).shape == (4,)


def export_onnx_cli(model_dir, tmp_path, capsys) -> tuple[int, str]:
    """`fraud-app export-onnx model_dir` through the real CLI on an empty project (no
    tracking): (exit code, stderr)."""
    root = tmp_path / "root"
    root.mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  root: {root}\ntracking:\n  enabled: false\n")
    code = main(["-c", str(config), "export-onnx", str(model_dir), str(tmp_path / "m.onnx")])
    return code, capsys.readouterr().err


def test_export_onnx_of_a_damaged_file_is_one_line(saved, tmp_path, capsys):
    pytest.importorskip("onnx")
    _edit(saved, metadata=[1, 2])
    code, err = export_onnx_cli(saved, tmp_path, capsys)
    assert code == 2
    assert "error: " in err and "'metadata' must be a JSON object. Received list" in err
    assert "Traceback" not in err


def test_a_changed_threshold_is_refused_by_the_seal(saved):
    """0.4 -> 0.6 is one flipped bit ('4' 0x34, '6' 0x36): it loaded and moved every alert."""
    path = saved / "ensemble.json"
    text = path.read_text()
    assert '"threshold": 0.4' in text
    path.write_text(text.replace('"threshold": 0.4', '"threshold": 0.6'))
    with pytest.raises(
        ModelLoadError, match=r"ensemble.json: its content does not match its sha256"
    ):
        FraudEnsemble.load(saved)
