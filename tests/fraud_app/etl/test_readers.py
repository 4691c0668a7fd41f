"""Long readers of the root's tables beside the writers that replace them (session 22's
leftover): `train`, `tune`, `backtest` and `evaluate` read the feature table without any
lock, so a `features` run committing meanwhile pulled the files from under a training
(a missing file an hour in, or one window read from the old table and the next from the
new one); `score` read the canonical table while `etl` could rewrite it. Real processes
hold the registrations and locks; no Spark is needed before the refusals."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.readers import READERS_DIR, TableReader, live_readers, refuse_while_read
from fraud_app.scoring.evaluate import run_evaluation
from fraud_app.scoring.job import run_scoring
from pipelines.backtest.pipeline import run_backtest
from pipelines.training.pipeline import run_training
from pipelines.tune.pipeline import run_tune
from tests.processes import ROOT, held_in_child


def _reader(root: Path, command: str = "train", table: str = "features") -> str:
    return (
        "from fraud_app.etl.readers import TableReader\n"
        f"TableReader({str(root)!r}, {command!r}, {table!r})"
    )


def _lock(root: Path, command: str) -> str:
    return f"from fraud_app.etl.lock import RootLock\nRootLock({str(root)!r}, {command!r})"


def test_a_writer_is_refused_while_a_reader_reads_naming_it(tmp_path):
    with held_in_child(_reader(tmp_path, "train")) as proc:
        with pytest.raises(ConcurrentRunError, match=rf"features would replace the feature table "
                           rf"while 1 run\(s\) read it: train \(pid {proc.pid} on host"):  # fmt: skip
            refuse_while_read(str(tmp_path), "features", "features")
        refuse_while_read(str(tmp_path), "etl", "canonical")  # another table: no reader
    refuse_while_read(str(tmp_path), "features", "features")  # the reader ended
    assert not (tmp_path / READERS_DIR).exists()  # nothing left behind by readers


def test_a_killed_readers_registration_does_not_block_writers(tmp_path, caplog):
    code = (
        "import sys\nfrom fraud_app.etl.readers import TableReader\n"
        f"r = TableReader({str(tmp_path)!r}, 'evaluate', 'features').__enter__()\n"
        "print('held', flush=True)\nsys.stdin.readline()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    assert [r["pid"] for r in live_readers(str(tmp_path), "features")] == [proc.pid]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert len(list((tmp_path / READERS_DIR).glob("*.json"))) == 1  # left by the kill
    refuse_while_read(str(tmp_path), "features", "features")
    assert list((tmp_path / READERS_DIR).glob("*.json")) == []
    assert "a reader that ended" in caplog.text


def test_a_reader_is_refused_while_a_writer_of_its_table_holds_the_root(tmp_path):
    with held_in_child(_lock(tmp_path, "features")) as proc:
        with pytest.raises(ConcurrentRunError, match=rf"train reads the feature table, which "
                           rf"another fraud-app run is replacing: features \(pid {proc.pid}"):  # fmt: skip
            TableReader(str(tmp_path), "train", "features").__enter__()
        assert list((tmp_path / READERS_DIR).glob("*")) == []  # withdrawn
        with TableReader(str(tmp_path), "score", "canonical") as reader:  # not its table
            assert reader.path.exists()
    with held_in_child(_lock(tmp_path, "etl")):  # etl does not write the feature table
        with TableReader(str(tmp_path), "train", "features") as reader:
            assert reader.path.exists()
        assert not reader.path.exists()


def test_readers_do_not_exclude_each_other_and_a_missing_root_is_left_alone(tmp_path):
    with (
        TableReader(str(tmp_path), "train", "features"),
        TableReader(str(tmp_path), "evaluate", "features"),
    ):
        found = live_readers(str(tmp_path), "features")
        assert sorted(r["command"] for r in found) == ["evaluate", "train"]
    missing = tmp_path / "no-such-root"
    with TableReader(str(missing), "train", "features"):
        assert not missing.exists()  # a wrong paths.root fails later, naming the table


CALLS = {
    "train": (run_training, {}),
    "backtest": (run_backtest, {"cfg": None}),
    "tune": (run_tune, {"cfg": None}),
    "evaluate": (
        run_evaluation,
        {
            "model_uri": "models:/x@champion",
            "start": dt.date(2024, 1, 1),
            "end": dt.date(2024, 1, 2),
        },
    ),
    "score": (run_scoring, {}),
}


@pytest.mark.parametrize("command", sorted(CALLS))
def test_each_long_reader_registers_for_its_whole_run(tmp_path, command):
    """Each entry point refuses to start inside a writer's run of the table it reads (it
    registered as a reader); the refusal comes before any work, so no Spark is needed."""
    fn, kwargs = CALLS[command]
    config = load_config(None, {"paths.root": str(tmp_path)})
    writer = "etl" if command == "score" else "features"
    refused = rf"^{command} reads .* replacing: {writer}"
    with held_in_child(_lock(tmp_path, writer)), pytest.raises(ConcurrentRunError, match=refused):
        fn(None, config, **kwargs)
