"""Outputs the file system refuses are one error line, and an existing device, pipe or
socket is never replaced by a model file. export-onnx renamed its file over a FIFO or a
device node (as root: /dev/full, /dev/stdout), and an unwritable directory was a
FileNotFoundError / PermissionError traceback naming a temporary file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fraud_app.models.ensemble import FraudEnsemble
from pipelines.cli import main
from tests.pipelines.test_cli_errors import _model_dir

# a directory no user can create entries in (procfs), on every Linux test machine
UNWRITABLE = Path("/proc")


@pytest.fixture
def ensemble_dir(tmp_path):
    from dlcore.serialization import load_model

    member = load_model(_model_dir(tmp_path))
    return FraudEnsemble([member], ["a", "b", "c"], {}).save(tmp_path / "ensemble")


def test_export_onnx_never_replaces_a_pipe(ensemble_dir, tmp_path, capsys):
    pytest.importorskip("onnx")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert main(["export-onnx", str(ensemble_dir), str(fifo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {fifo} exists and is not a regular file (a device, pipe or")
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still the pipe


def test_export_onnx_into_an_unwritable_directory_is_one_line(ensemble_dir, capsys):
    pytest.importorskip("onnx")
    out = UNWRITABLE / "fraud-app-test.onnx"
    assert main(["export-onnx", str(ensemble_dir), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {out}: ") and "Traceback" not in err
    assert err.count("\n") == 1


def test_saving_an_ensemble_into_an_unwritable_directory_is_one_line(
    ensemble_dir, tmp_path, capsys
):
    pytest.importorskip("onnx")
    onnx_file = tmp_path / "m.onnx"
    assert main(["export-onnx", str(ensemble_dir), str(onnx_file)]) == 0
    capsys.readouterr()
    out = UNWRITABLE / "fraud-app-test-ensemble"
    assert main(["import-onnx", str(onnx_file), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the ensemble to {out}: ")
    assert err.count("\n") == 1


def test_any_other_file_system_error_is_one_line_naming_the_path(tmp_path, capsys, monkeypatch):
    # e.g. a disk that fills while a command writes: the CLI names the file, exit 2
    import pipelines.commands.init as init

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "proj" / "config.yaml"))

    monkeypatch.setattr(init, "run", full)
    assert main(["init", str(tmp_path / "proj")]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path}/proj/config.yaml: No space left on device; check that the path "
        "exists and that this user can write there\n"
    )


def test_init_into_a_file_says_it_is_a_file(tmp_path, capsys):
    # before: "cannot write into <file>: File exists"
    target = tmp_path / "notes.txt"
    target.write_text("x")
    assert main(["init", str(target)]) == 2
    assert capsys.readouterr().err == (
        f"error: fraud-app init: {target} is a file; pass a new or empty directory\n"
    )
    assert target.read_text() == "x"
