"""export-onnx -> import-onnx -> export-onnx keeps the model version (the second file said
`sha256:<weights>`), without changing the imported ensemble's metadata (an exported
ensemble imports with its metadata unchanged and exports again byte for byte)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")

from fraud_app.interop.onnx_import import load_onnx
from fraud_app.models.ensemble import FraudEnsemble
from pipelines.cli import main
from tests.fraud_app.interop.onnx_cases import make_ensemble


def _version(path) -> str:
    return {p.key: p.value for p in load_onnx(path).metadata_props}["model_version"]


def test_the_model_version_survives_an_import_and_a_second_export(tmp_path, capsys):
    source = make_ensemble(2).save(tmp_path / "trained")
    first, second = tmp_path / "first.onnx", tmp_path / "second.onnx"
    assert main(["export-onnx", str(source), str(first), "--model-version", "7"]) == 0
    assert main(["import-onnx", str(first), str(tmp_path / "imported")]) == 0
    capsys.readouterr()
    assert main(["export-onnx", str(tmp_path / "imported"), str(second)]) == 0
    assert json.loads(capsys.readouterr().out)["model_version"] == "7"
    assert _version(second) == "7" and load_onnx(second).model_version == 7
    # the metadata is the trained model's, unchanged (no version put into it)
    imported = FraudEnsemble.load(tmp_path / "imported")
    assert imported.metadata == FraudEnsemble.load(source).metadata
    # --model-version still overrides
    assert main(["export-onnx", str(tmp_path / "imported"), str(second), "--replace",
                 "--model-version", "8"]) == 0  # fmt: skip
    assert _version(second) == "8"


def test_the_recorded_version_is_not_given_to_other_weights(tmp_path, capsys):
    source = make_ensemble(2).save(tmp_path / "trained")
    first = tmp_path / "first.onnx"
    assert main(["export-onnx", str(source), str(first), "--model-version", "7"]) == 0
    assert main(["import-onnx", str(first), str(tmp_path / "imported")]) == 0
    tuned = FraudEnsemble.load(tmp_path / "imported")
    tuned.members[0].params.data[...] += np.float32(0.01)  # fine-tuned: another model
    tuned.save(tmp_path / "imported")  # the save replaces the directory, record included
    assert main(["export-onnx", str(tmp_path / "imported"), str(tmp_path / "a.onnx")]) == 0
    assert _version(tmp_path / "a.onnx").startswith("sha256:")
    # a record copied beside other weights is not theirs either
    other = tuned.save(tmp_path / "other")
    assert main(["import-onnx", str(first), str(tmp_path / "again")]) == 0
    shutil.copy(tmp_path / "again" / "onnx_source.json", other / "onnx_source.json")
    assert main(["export-onnx", str(other), str(tmp_path / "b.onnx")]) == 0
    assert _version(tmp_path / "b.onnx").startswith("sha256:")


def test_a_damaged_version_record_is_named(tmp_path, capsys):
    source = make_ensemble(2).save(tmp_path / "trained")
    first = tmp_path / "first.onnx"
    assert main(["export-onnx", str(source), str(first), "--model-version", "7"]) == 0
    assert main(["import-onnx", str(first), str(tmp_path / "imported")]) == 0
    record = tmp_path / "imported" / "onnx_source.json"
    record.write_text(record.read_text().replace('"7"', '"9"'))
    capsys.readouterr()
    assert main(["export-onnx", str(tmp_path / "imported"), str(tmp_path / "b.onnx")]) == 2
    err = capsys.readouterr().err
    assert "onnx_source.json" in err and "give --model-version" in err
    assert not (tmp_path / "b.onnx").exists()


@pytest.mark.parametrize("edit", ["unsealed", "empty"])
def test_a_record_edited_with_its_seal_removed_is_refused(tmp_path, capsys, edit):
    """check_seal reads a file without a seal as a pre-seal one: `"9"` for `"7"` with the
    seal deleted was exported as version 9, and `{}` silently fell back to sha256:."""
    source = make_ensemble(2).save(tmp_path / "trained")
    first = tmp_path / "first.onnx"
    assert main(["export-onnx", str(source), str(first), "--model-version", "7"]) == 0
    assert main(["import-onnx", str(first), str(tmp_path / "imported")]) == 0
    record_path = tmp_path / "imported" / "onnx_source.json"
    record = json.loads(record_path.read_text())
    del record["sha256"]
    record["model_version"] = "9"
    record_path.write_text(json.dumps(record) if edit == "unsealed" else "{}")
    capsys.readouterr()
    assert main(["export-onnx", str(tmp_path / "imported"), str(tmp_path / "b.onnx")]) == 2
    err = capsys.readouterr().err
    assert "onnx_source.json" in err and "sha256" in err and "give --model-version" in err
    assert not (tmp_path / "b.onnx").exists()


def test_the_record_keeps_no_local_path(tmp_path):
    """The ensemble directory is shared (registry, copies): the importer's file path and
    the exporter's local model directory were written into onnx_source.json."""
    source = make_ensemble(2).save(tmp_path / "trained")
    first = tmp_path / "first.onnx"
    assert main(["export-onnx", str(source), str(first), "--model-version", "7"]) == 0
    assert main(["import-onnx", str(first), str(tmp_path / "imported")]) == 0
    text = (tmp_path / "imported" / "onnx_source.json").read_text()
    assert str(tmp_path) not in text
    record = json.loads(text)
    assert record["onnx_file"] == "first.onnx" and record["model_uri"] is None
    # nor does the next export's metadata carry anything but the URI it was given
    second = tmp_path / "second.onnx"
    assert main(["export-onnx", str(tmp_path / "imported"), str(second)]) == 0
    props = {p.key: p.value for p in load_onnx(second).metadata_props}
    assert [k for k, v in props.items() if str(tmp_path) in v] == ["model_uri"]
    assert props["model_uri"] == str(tmp_path / "imported")


@pytest.mark.parametrize(
    "uri, kept",
    [("models:/fraud/7", True), ("s3://bucket/m", True), ("/home/a/m", False),
     ("file:///home/a/m", False), ("relative/m", False), (None, False)],
)  # fmt: skip
def test_only_a_registry_or_remote_model_uri_is_recorded(uri, kept):
    from fraud_app.interop.onnx_source import _shareable_uri

    assert _shareable_uri(uri) == (uri if kept else None)
