"""A project root moved (`mv`) or copied (`cp -a`, a tar unpacked elsewhere) with its
embedded store: MLflow keeps absolute artifact paths in the store, so after the move
`score` of the champion said `models:/fraud-ensemble@champion holds no ensemble`, and
`train` wrote its run's artifacts into the old root (re-creating it; a copy's runs went
into the original project), then failed at its gate (session 35 probe). Real MLflow on
sqlite; the gates score collected rows (helpers.gate_on_rows), no Spark."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from fraud_app.errors import ModelLoadError
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.tracking.models import resolve_model
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration
CHAMPION = "models:/fraud-ensemble@champion"


def _score(directory) -> float:
    return float(FraudEnsemble.load(directory).predict_proba(np.ones((1, h.D), np.float32))[0])


def _files(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_a_moved_then_copied_root_reads_and_writes_its_own_artifacts(
    tmp_path, monkeypatch, mlflow_template, caplog
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    old, moved, copied = tmp_path / "old", tmp_path / "moved", tmp_path / "copied"
    mlflow_template.copy_to(old)
    validation = h.rows(200, seed=3)
    h.gate_on_rows(h.config(old), old, h.linear_ensemble(2.0), "r1", validation)  # v1
    expected = _score(old / "models" / "r1")

    shutil.move(old, moved)
    with caplog.at_level(logging.WARNING, logger="fraud_app.tracking.relocation"):
        champion = resolve_model(CHAMPION, config=h.config(moved))
    assert champion.version == "1"  # was: ModelLoadError ... holds no ensemble
    assert champion.directory.is_relative_to(moved)
    assert _score(champion.directory) == pytest.approx(expected)
    assert f"recorded under {old / 'mlartifacts'}" in caplog.text
    assert f"under {moved / 'mlartifacts'} from now on" in caplog.text

    out, tracker = h.gate_on_rows(
        h.config(moved), moved, h.linear_ensemble(-2.0), "r2", validation
    )  # the gate reads v1 from the moved store
    assert (out["version"], out["champion_version"]) == ("2", "1")
    assert not old.exists()  # was: the new run's artifacts re-created the old root
    assert (moved / "mlartifacts" / tracker.run_id).is_dir()

    shutil.copytree(moved, copied)
    before = _files(moved)
    champion = resolve_model(CHAMPION, config=h.config(copied))
    assert champion.directory.is_relative_to(copied)
    _, tracker = h.gate_on_rows(h.config(copied), copied, h.linear_ensemble(1.0), "r3", validation)
    assert (copied / "mlartifacts" / tracker.run_id).is_dir()
    assert _files(moved) == before  # was: the copy's run went into the original's folder


def test_a_store_copied_without_its_artifacts_names_the_missing_folder(
    tmp_path, monkeypatch, mlflow_template
):
    """Only mlflow.db copied (to another machine, or a backup of the database alone):
    `holds no ensemble (ensemble.json not found)` named neither the folder nor the cause."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    old, other = tmp_path / "old", tmp_path / "other"
    mlflow_template.copy_to(old)
    h.gate_on_rows(h.config(old), old, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    other.mkdir()
    shutil.copyfile(old / "mlflow.db", other / "mlflow.db")
    shutil.rmtree(old)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{other / 'mlflow.db'}")
    with pytest.raises(ModelLoadError) as caught:
        resolve_model(CHAMPION, config=h.config(tmp_path / "reader"))
    message = str(caught.value)
    assert f"records its files under {old / 'mlartifacts' / 'models'}" in message, message
    assert "without its artifacts folder" in message


def test_the_same_folder_under_another_name_is_not_a_move(tmp_path):
    """A root reached through a link or a bind mount records a path that still names the
    same folder: nothing is rewritten (two names of one store would rewrite it back and
    forth)."""
    import sqlite3

    from fraud_app.tracking.relocation import moved_location

    real = tmp_path / "real"
    (real / "mlartifacts" / "run1").mkdir(parents=True)
    with sqlite3.connect(real / "mlflow.db") as conn:
        conn.execute("CREATE TABLE runs (run_uuid TEXT)")
        conn.execute("INSERT INTO runs VALUES ('run1')")
    conn.close()
    (tmp_path / "alias").symlink_to(real)
    assert moved_location(real / "mlflow.db", str(tmp_path / "alias" / "mlartifacts")) is None
    moved = tmp_path / "gone" / "mlartifacts"  # the same layout, the old folder gone
    assert moved_location(real / "mlflow.db", str(moved)) == real / "mlartifacts"
