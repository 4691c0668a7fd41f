"""paths.root `file://localhost/<dir>` (fraud_app.uris: the local path <dir>, as
`file:///<dir>`). Before (review43a), pathlib read `//localhost` as a folder: the run lock
was `<dir>/.fraud-app.lock`, but paths.resolve put models, scores and checkpoints, and with
them `train --run`'s and `score`'s locks, under `/localhost/<dir>`, and `fraud-app unlock`
looked for those locks there too. Real files, a real holder process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.config import AppConfig
from fraud_app.etl import lock
from fraud_app.etl.lock import RootLock
from fraud_app.scoring.partitions import output_lock
from pipelines.cli import main
from pipelines.training.run_names import run_lock
from tests.processes import CLI_DEADLINE_S

REPO = Path(__file__).resolve().parents[3]
HOLD = """
import sys
from fraud_app.config import AppConfig
from pipelines.training.run_names import run_lock
config = AppConfig.model_validate({"paths": {"root": sys.argv[1]}})
with run_lock(config, "r1"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_every_lock_of_a_localhost_root_is_under_it(tmp_path):
    root = tmp_path / "work"
    config = AppConfig.model_validate({"paths": {"root": f"file://localhost{root}"}})
    assert RootLock(config.paths.root, "etl").path == root / ".fraud-app.lock"
    assert run_lock(config, "r1").path == root / "models" / ".r1.lock"  # was /localhost/...
    assert output_lock(*config.scores_output()).path == root / "scores" / ".fraud-app.lock"
    assert config.paths.resolve("checkpoints") == f"file://{root}/checkpoints"  # joinable


@pytest.mark.skipif(lock.process_start(os.getpid()) is None, reason="/proc start times")
def test_unlock_finds_a_localhost_roots_run_name_lock_where_train_holds_it(tmp_path, capsys):
    root = tmp_path / "work"
    (root / "models").mkdir(parents=True)
    uri = f"file://localhost{root}"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"paths: {{root: '{uri}'}}\ntracking: {{enabled: false}}\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, uri], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert main(["-c", str(cfg), "unlock", "--json"]) == 0
        found = json.loads(capsys.readouterr().out)["found"]
    finally:
        holder.communicate("", timeout=CLI_DEADLINE_S)
    assert [(f["kind"], f["path"], f["state"]) for f in found] == [
        ("run-name lock", str(root / "models" / ".r1.lock"), "alive")
    ]
