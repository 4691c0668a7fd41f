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
    moved = tmp_path / "gone" / "mlartifacts"  # the same layout, the old folder gone
    (real / "mlartifacts" / "run1").mkdir(parents=True)
    with sqlite3.connect(real / "mlflow.db") as conn:
        conn.execute("CREATE TABLE experiments (experiment_id INTEGER, artifact_location TEXT)")
        conn.execute("CREATE TABLE runs (run_uuid TEXT, experiment_id INTEGER, status TEXT)")
        conn.execute("INSERT INTO experiments VALUES (1, ?)", (str(moved),))
        conn.execute("INSERT INTO runs VALUES ('run1', 1, 'FINISHED')")
    conn.close()
    (tmp_path / "alias").symlink_to(real)
    assert moved_location(real / "mlflow.db", str(tmp_path / "alias" / "mlartifacts")) is None
    assert moved_location(real / "mlflow.db", str(moved)) == real / "mlartifacts"


def _store_with_runs(db, experiments: dict[str, tuple], monkeypatch) -> dict[str, str]:
    """A real MLflow store at `db` with, per experiment name, (its artifact location, the
    statuses of its runs, in order); each run's folder made under its location. Returns
    {"<experiment>/<n>": run id}."""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    ids = {}
    for name, (location, statuses) in experiments.items():
        exp = client.create_experiment(name, artifact_location=str(location))
        for n, status in enumerate(statuses):
            run = client.create_run(exp).info.run_id
            if status != "RUNNING":
                client.set_terminated(run, status)
            (location / run / "artifacts").mkdir(parents=True)
            ids[f"{name}/{n}"] = run
    return ids


def _artifact_paths(db) -> list:
    import sqlite3

    with sqlite3.connect(db) as conn:
        out = conn.execute("SELECT artifact_location FROM experiments ORDER BY 1").fetchall()
        out += conn.execute("SELECT artifact_uri FROM runs ORDER BY 1").fetchall()
    conn.close()
    return out


def test_another_experiment_at_its_own_location_is_not_taken_for_a_move(
    tmp_path, mlflow_template, monkeypatch
):
    """A store of two experiments: `fraud-app` in <root>/mlartifacts, another at its own
    `tracking.artifact_location`, a folder also named mlartifacts (review 35). Opening the
    second took the first one's run folders beside the database for its own and rewrote
    its paths into the first one's folder, where its files are not."""
    from fraud_app.tracking.relocation import follow_moved_artifacts

    root, shared = tmp_path / "root", tmp_path / "shared" / "mlartifacts"
    db = mlflow_template.copy_to(root)
    _store_with_runs(
        db, {"fraud-app": (root / "mlartifacts", ["FINISHED"]), "other": (shared, ["FINISHED"])},
        monkeypatch,
    )  # fmt: skip
    before = _artifact_paths(db)
    assert follow_moved_artifacts(db, str(shared)) is None  # was: <root>/mlartifacts
    assert _artifact_paths(db) == before


def test_a_store_with_a_run_in_progress_is_not_rewritten(
    tmp_path, mlflow_template, monkeypatch, caplog
):
    """The same store at another path (another machine's mount of the root, or a move)
    while a run is RUNNING (review 35): the rewrite moved the experiment's location under
    the running run, whose model then went under a path its own machine may not have, and
    that machine's next command rewrote the store back. Nothing is rewritten while it
    runs (one WARNING); once it ended, the move is followed."""
    import mlflow

    from fraud_app.tracking.relocation import follow_moved_artifacts

    old, here = tmp_path / "a" / "proj", tmp_path / "b" / "proj"
    db = mlflow_template.copy_to(old)
    ids = _store_with_runs(
        db, {"fraud-app": (old / "mlartifacts", ["FINISHED", "RUNNING"])}, monkeypatch
    )
    copied = tmp_path / "c" / "proj"  # a copy: its own store follows, the original runs on
    shutil.copytree(old, copied)
    assert follow_moved_artifacts(copied / db.name, str(old / "mlartifacts")) == str(
        copied / "mlartifacts"
    )
    shutil.move(old, here)
    db, before = here / db.name, _artifact_paths(here / db.name)
    with caplog.at_level(logging.WARNING, logger="fraud_app.tracking.relocation"):
        assert follow_moved_artifacts(db, str(old / "mlartifacts")) is None
    assert _artifact_paths(db) == before  # was: every path rewritten under the running run
    assert f"run(s) {ids['fraud-app/1']} are in progress" in caplog.text

    mlflow.MlflowClient(f"sqlite:///{db}").set_terminated(ids["fraud-app/1"], "KILLED")
    assert follow_moved_artifacts(db, str(old / "mlartifacts")) == str(here / "mlartifacts")
    assert (str(here / "mlartifacts"),) in _artifact_paths(db)


def _uri_config(root):
    """The config of a root whose artifact location is given as a `file:` URI, written
    percent-encoded as `Path.as_uri()` writes it."""
    return h.config(root, **{"tracking.artifact_location": (root / "mlartifacts").as_uri()})


def test_a_store_at_a_file_uri_moved_to_a_folder_with_a_hash_or_percent_reads_its_model(
    tmp_path, monkeypatch, mlflow_template, caplog
):
    """The rewrite wrote `file://<new path>` as it is, and MLflow decodes a `file:` URI: a
    `#` began a fragment (moved to `new 100% #1`, the champion's files were looked for under
    `.../new 100% `: `holds no ensemble`, and the next run wrote its artifacts into a new
    folder `new 100% `) (session 37). The rewritten URIs are percent-encoded now."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    old, moved = tmp_path / "old", tmp_path / "new 100% #1"
    mlflow_template.copy_to(old)
    validation = h.rows(200, seed=3)
    h.gate_on_rows(_uri_config(old), old, h.linear_ensemble(2.0), "r1", validation)
    expected = _score(old / "models" / "r1")
    shutil.move(old, moved)
    with caplog.at_level(logging.WARNING, logger="fraud_app.tracking.relocation"):
        champion = resolve_model(CHAMPION, config=_uri_config(moved))
    assert f"under {moved / 'mlartifacts'} from now on" in caplog.text
    assert champion.directory.is_relative_to(moved)
    assert _score(champion.directory) == pytest.approx(expected)
    out, tracker = h.gate_on_rows(
        _uri_config(moved), moved, h.linear_ensemble(-2.0), "r2", validation
    )
    assert (out["version"], out["champion_version"]) == ("2", "1")  # v1 loaded at the gate
    assert (moved / "mlartifacts" / tracker.run_id).is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [moved.name]  # no stray folder


def test_a_store_at_a_percent_encoded_file_uri_that_did_not_move_is_left_alone(
    tmp_path, monkeypatch, mlflow_template, caplog
):
    """`file:///.../proj%20%231/mlartifacts` names the folder `proj #1`: it was read as the
    folder `proj%20%231`, which does not exist, so the store was taken for a moved one and
    rewritten, `#` unencoded: MLflow then read `.../proj ` and the champion did not load."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "proj #1"
    mlflow_template.copy_to(root)
    h.gate_on_rows(_uri_config(root), root, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    with caplog.at_level(logging.WARNING, logger="fraud_app.tracking.relocation"):
        champion = resolve_model(CHAMPION, config=_uri_config(root))
    assert "was moved or copied" not in caplog.text
    assert champion.directory.is_relative_to(root)
    assert _score(champion.directory) == pytest.approx(_score(root / "models" / "r1"))


def test_a_store_at_a_file_uri_with_a_trailing_slash_is_rewritten_whole(
    tmp_path, monkeypatch, mlflow_template
):
    """`tracking.artifact_location: file:///.../mlartifacts/` is recorded as given, and
    MLflow records each run under it with one slash (`.../mlartifacts/<run>/artifacts`):
    the rewrite matched the runs by `<recorded>/` (`...mlartifacts//`), so after a move
    only the experiment's location followed, and every run's and model's paths kept naming
    the old folder (session 37 review)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    old, moved = tmp_path / "old", tmp_path / "moved"
    mlflow_template.copy_to(old)

    def config(root):
        location = (root / "mlartifacts").as_uri() + "/"
        return h.config(root, **{"tracking.artifact_location": location})

    h.gate_on_rows(config(old), old, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    shutil.move(old, moved)
    champion = resolve_model(CHAMPION, config=config(moved))
    assert champion.directory.is_relative_to(moved)
    paths = [row[0] for row in _artifact_paths(moved / "mlflow.db")]
    assert len(paths) >= 2 and not [p for p in paths if str(old) in p], paths
