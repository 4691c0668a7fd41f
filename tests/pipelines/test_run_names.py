"""A run name that already finished is refused (it silently replaced the run's model and
report); --replace trains it anew; an interrupted run resumes; two processes never write
one name (real files, real lock files, the real CLI in a subprocess; no training)."""

from __future__ import annotations

import json
import os
import re
import socket

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConcurrentRunError, RunExistsError
from pipelines.training import run_names
from pipelines.training.pipeline import run_training
from tests.pipelines.test_cli_errors import _cli

FINISHED = (
    r"run 'r1' already finished \((?P<found>.*) exist\); training it again would replace its "
    r"model, test scores and report\. Give a new --run name \(or leave --run out: a UTC "
    r"timestamp\), or pass --replace to train it again under the same name \(the earlier "
    r"MLflow run and registered versions stay\)"
)


def _finish(root, run="r1", *, checkpoints=True):
    """What a finished run leaves: model, checkpoints, report (written last)."""
    (root / "models" / run).mkdir(parents=True)
    (root / "models" / run / "ensemble.json").write_text("{}")
    if checkpoints:
        (root / "checkpoints" / run / "member-00").mkdir(parents=True)
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports" / f"training-{run}.json").write_text("{}")


def _config(root):
    return load_config(None, {"paths.root": str(root)})


def _held_by_another_process(root, run):
    """The lock file of a live process (our parent) holding `run`."""
    (root / "models").mkdir(exist_ok=True)
    holder = {"pid": os.getppid(), "host": socket.gethostname(), "command": f"train --run {run}"}
    (root / "models" / f".{run}.lock").write_text(json.dumps(holder))


@pytest.mark.parametrize("command", ["train", "run"])
def test_the_cli_refuses_a_finished_run_before_spark_starts(tmp_path, command):
    _finish(tmp_path)
    (tmp_path / "c.yaml").write_text(f"paths:\n  root: {tmp_path}\n")
    result = _cli(["-c", str(tmp_path / "c.yaml"), command, "--run", "r1"], tmp_path, no_jvm=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    line = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert re.fullmatch(f"error: {FINISHED}", line[0]), line
    assert (tmp_path / "reports" / "training-r1.json").read_text() == "{}"  # nothing touched
    assert (tmp_path / "checkpoints" / "r1" / "member-00").is_dir()


def test_finished_unfinished_and_foreign_model_directories(tmp_path):
    config = _config(tmp_path)
    _finish(tmp_path)
    with pytest.raises(RunExistsError, match=FINISHED) as info:
        run_training(None, config, run="r1")  # the Python API: before anything starts
    assert "training-r1.json and " in str(info.value)
    # interrupted (checkpoints, no report): free, it resumes
    (tmp_path / "reports" / "training-r1.json").unlink()
    run_names.check_run_free(config, "r1")
    # a model directory nothing of ours left behind (e.g. import-onnx into models/x)
    _finish(tmp_path, "x", checkpoints=False)
    (tmp_path / "reports" / "training-x.json").unlink()
    with pytest.raises(RunExistsError, match=r"run 'x' already finished \(.*/models/x exist\)"):
        run_names.check_run_free(config, "x")


def test_replace_clears_checkpoints_and_report_under_the_lock(tmp_path):
    config = _config(tmp_path)
    _finish(tmp_path)
    with run_names.claim_run(config, "r1", replace=True) as name:
        assert name == "r1"
        assert (tmp_path / "models" / ".r1.lock").is_file()
        assert not (tmp_path / "checkpoints" / "r1").exists()  # it trains anew, no resume
        assert not (tmp_path / "reports" / "training-r1.json").exists()
        assert (tmp_path / "models" / "r1" / "ensemble.json").is_file()  # replaced at save
    assert not (tmp_path / "models" / ".r1.lock").exists()


def test_two_processes_never_share_a_run_name(tmp_path, monkeypatch):
    config = _config(tmp_path)
    _held_by_another_process(tmp_path, "r1")
    with (
        pytest.raises(ConcurrentRunError, match=r"train --run r1 \(pid \d+"),
        run_names.claim_run(config, "r1"),
    ):
        pass
    # the default name: the second process in the same second takes <stamp>-2, then -3
    monkeypatch.setattr(run_names, "utc_stamp", lambda: "20240101T000000")
    _held_by_another_process(tmp_path, "20240101T000000")
    _finish(tmp_path, "20240101T000000-2")
    with run_names.claim_run(config, None) as name:
        assert name == "20240101T000000-3"


@pytest.mark.parametrize("keep", [False, True])
def test_a_finished_runs_checkpoints_go_unless_kept(tmp_path, keep):
    config = load_config(None, {"paths.root": str(tmp_path), "training.keep_checkpoints": keep})
    _finish(tmp_path)
    (tmp_path / "checkpoints" / "other" / "member-00").mkdir(parents=True)  # another run's
    run_names.drop_checkpoints(config, "r1")
    assert (tmp_path / "checkpoints" / "r1" / "member-00").is_dir() == keep
    assert (tmp_path / "checkpoints" / "other" / "member-00").is_dir()
    assert run_names.finished(config, "r1")  # its report: still finished, never resumed
    run_names.drop_checkpoints(config, "never-ran")  # nothing there: nothing to do
