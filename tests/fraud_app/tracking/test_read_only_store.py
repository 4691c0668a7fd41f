"""A scoring machine reading the training root through a read-only mount, at another path
than the one the store records (session 35 probe): every command that opened the store
failed on its lock file (`[Errno 30] Read-only file system: '.../mlflow.db.lock'`);
with that lifted, the champion's files were looked for at the recorded path, and the
scoring job's MLflow run printed MLflow's SQL error and traceback (~60 lines) before its
WARNING. Real MLflow on sqlite, a real read-only bind mount: root only (`mount`),
skipped otherwise. No Spark."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.tracking.jobs import log_scoring_job
from fraud_app.tracking.models import resolve_model
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


@pytest.fixture
def read_only_mount(tmp_path):
    """A read-only bind mount of `tmp_path / "src"` at /mnt/p35b_ro-* (not under tmp_path:
    pytest renames old temporary folders, and a moved mount point cannot be unmounted)."""
    if os.geteuid() != 0 or shutil.which("mount") is None or not os.access("/mnt", os.W_OK):
        pytest.skip("a read-only bind mount needs root")
    src, where = tmp_path / "src", Path(f"/mnt/p35b_ro-{uuid.uuid4().hex[:8]}")
    src.mkdir()
    where.mkdir()
    done = subprocess.run(["mount", "--bind", str(src), str(where)], capture_output=True)
    if done.returncode != 0:
        where.rmdir()
        pytest.skip(f"mount not permitted: {done.stderr.decode().strip()}")
    try:
        yield src, where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def test_a_store_on_a_read_only_mount_at_another_path_is_read(
    tmp_path, monkeypatch, mlflow_template, read_only_mount, caplog
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    src, where = read_only_mount
    trained = tmp_path / "trained"
    mlflow_template.copy_to(trained)
    h.gate_on_rows(h.config(trained), trained, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    ones = np.ones((1, h.D), np.float32)
    expected = float(FraudEnsemble.load(trained / "models" / "r1").predict_proba(ones)[0])
    shutil.copytree(trained / "mlartifacts", src / "mlartifacts")
    shutil.copyfile(trained / "mlflow.db", src / "mlflow.db")
    shutil.rmtree(trained)  # the training machine's path does not exist here
    done = subprocess.run(["mount", "-o", "remount,bind,ro", str(where)], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert not os.access(where, os.W_OK)

    reader = tmp_path / "reader"  # a writable root for the cache and the reports
    config = h.config(reader, **{"tracking.uri": f"sqlite:///{where / 'mlflow.db'}"})
    with caplog.at_level(logging.WARNING):
        champion = resolve_model("models:/fraud-ensemble@champion", config=config)
    assert champion.version == "1" and champion.directory.is_relative_to(reader)
    got = float(FraudEnsemble.load(champion.directory).predict_proba(ones)[0])
    assert got == pytest.approx(expected)
    assert f"read from {where / 'mlartifacts' / 'models'}" in caplog.text

    caplog.clear()
    report = reader / "scoring-j1.json"
    report.write_text("{}")
    with caplog.at_level(logging.WARNING):
        assert log_scoring_job({"job_id": "j1", "dates": []}, report, config) is None
    assert [r.name for r in caplog.records] == ["fraud_app.tracking.jobs"], caplog.text
    assert "cannot be written here (a read-only mount?)" in caplog.text


def test_a_writable_database_in_a_read_only_folder_is_read_not_rewritten(
    tmp_path, monkeypatch, mlflow_template, read_only_mount
):
    """The database writable but not its folder (a scorer's group may write mlflow.db in a
    folder it cannot write; sqlite writes its journal beside the database): the moved
    store's rewrite was tried and failed the command, `updating its paths failed
    (attempt to write a readonly database)` (review 35). It is read as a read-only store
    is."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    src, where = read_only_mount
    trained = tmp_path / "trained"
    mlflow_template.copy_to(trained)
    h.gate_on_rows(h.config(trained), trained, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    shutil.copytree(trained / "mlartifacts", src / "mlartifacts")
    shutil.copyfile(trained / "mlflow.db", src / "mlflow.db")
    writable = tmp_path / "writable.db"
    shutil.copyfile(trained / "mlflow.db", writable)
    shutil.rmtree(trained)
    done = subprocess.run(["mount", "-o", "remount,bind,ro", str(where)], capture_output=True)
    assert done.returncode == 0, done.stderr
    db = where / "mlflow.db"
    done = subprocess.run(["mount", "--bind", str(writable), str(db)], capture_output=True)
    assert done.returncode == 0, done.stderr
    try:
        assert os.access(db, os.W_OK) and not os.access(where, os.W_OK)
        config = h.config(tmp_path / "reader", **{"tracking.uri": f"sqlite:///{db}"})
        champion = resolve_model("models:/fraud-ensemble@champion", config=config)
        assert champion.version == "1"  # was: TrackingError ... updating its paths failed
    finally:
        subprocess.run(["umount", str(db)], check=False)
