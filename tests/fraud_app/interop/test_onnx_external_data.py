"""ONNX files that keep weights in external data files: read only from regular files inside
the .onnx file's own folder, each location and length checked before anything is read or
allocated. A ModelProto given in memory has no folder: its external tensor was read from
the process's working directory (a file of that name there loaded without a word)."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")

import onnx
from onnx import TensorProto, numpy_helper
from onnx.external_data_helper import set_external_data

from fraud_app.errors import OnnxConversionError
from fraud_app.interop.onnx_import import ensemble_from_onnx, model_from_onnx
from tests.fraud_app.interop.test_onnx_import import torch_style

WEIGHT = "fc1.weight"


def _external(proto, location: str, **kw) -> onnx.ModelProto:
    """`proto` with WEIGHT's data moved out to `location` (offset / length in `kw`)."""
    tensor = next(t for t in proto.graph.initializer if t.name == WEIGHT)
    set_external_data(tensor, location=location, **kw)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    return proto


@pytest.fixture
def folders(tmp_path):
    """(models folder, outside folder, a model): its WEIGHT's bytes in both folders' w.bin
    (torch_style draws new weights at each call)."""
    proto = torch_style()
    data = numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name == WEIGHT))
    models, outside = tmp_path / "models", tmp_path / "outside"
    for folder in (models, outside):
        folder.mkdir()
        (folder / "w.bin").write_bytes(data.astype(np.float32).tobytes())
    return models, outside, proto


def _save(folder, name, proto):
    path = folder / name
    path.write_bytes(proto.SerializeToString())
    return path


def test_external_data_beside_the_file_is_read(folders):
    models, _, proto = folders
    path = _save(models, "m.onnx", _external(onnx.ModelProto.FromString(
        proto.SerializeToString()), "w.bin"))  # fmt: skip
    X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        model_from_onnx(path).predict(X), model_from_onnx(proto).predict(X)
    )


@pytest.mark.parametrize(
    "location, kw, why",
    [
        ("../outside/w.bin", {}, "is not a relative path inside the model's folder"),
        ("ABS", {}, "is not a relative path inside the model's folder"),
        ("link.bin", {}, "is or passes through a symbolic link"),
        ("sub", {}, "is not a regular file in the model's folder"),
        (
            "w.bin",
            {"length": 2**40},
            "holds 128 bytes, fewer than the offset 0 \\+ length 1099511627776",
        ),
        (
            "w.bin",
            {"offset": 2**40},
            "holds 128 bytes, fewer than the offset 1099511627776 \\+ length 0",
        ),
    ],
    ids=["dotdot", "absolute", "symlink", "directory", "length", "offset"],
)
def test_external_data_out_of_the_folder_or_beyond_the_file_is_refused(folders, location, kw, why):
    models, outside, proto = folders
    (models / "link.bin").symlink_to(outside / "w.bin")
    (models / "sub").mkdir()
    if location == "ABS":
        location = str(outside / "w.bin")
    path = _save(models, "m.onnx", _external(proto, location, **kw))
    with pytest.raises(OnnxConversionError, match=rf"m\.onnx: tensor 'fc1\.weight' keeps its data "
                       rf"in an external file '.*', which {why}"):  # fmt: skip
        ensemble_from_onnx(path)


def test_a_model_in_memory_never_reads_external_data_from_the_working_directory(
    folders, monkeypatch
):
    """It loaded the weights of whatever `w.bin` the working directory held."""
    _, outside, proto = folders
    monkeypatch.chdir(outside)
    assert os.path.isfile("w.bin")
    with pytest.raises(OnnxConversionError, match=r"tensor 'fc1\.weight' keeps its data in an "
                       r"external file, which a model given in memory has no folder for"):  # fmt: skip
        ensemble_from_onnx(_external(proto, "w.bin"))
