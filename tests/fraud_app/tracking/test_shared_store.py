"""Two projects (two configs, two paths.root, other data) on ONE tracking store, both with
the default registry.model_name (helper shared37, session 37). Real MLflow on sqlite, the
real gate on collected rows (helpers.gate_on_rows: no Spark), the real CLI.

Before: project B's gate compared B's model with A's champion on B's window and moved
`champion` to B's model, so A's daily `score` of models:/fraud-ensemble@champion scored
A's transactions with B's model, without a word."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from fraud_app.errors import TrackingError
from fraud_app.tracking.models import resolve_model
from fraud_app.tracking.ownership import PROJECT_TAG, check_before_training, project_identity
from pipelines.cli import main
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration
NAME = "fraud-ensemble"
CHAMPION = f"models:/{NAME}@champion"


@pytest.fixture
def shared(mlflow_template, tmp_path, monkeypatch) -> Path:
    """A shared store (sqlite file outside both roots) and its artifact folder."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return mlflow_template.copy_to(tmp_path / "server", "shared.db")


def _overrides(tmp_path: Path, db: Path, **extra) -> dict:
    return {"tracking.uri": f"sqlite:///{db}",
            "tracking.artifact_location": str(tmp_path / "server" / "artifacts"), **extra}  # fmt: skip


def _cfg(tmp_path: Path, db: Path, project: str, **extra):
    return h.config(tmp_path / project, **_overrides(tmp_path, db, **extra))


def _yaml(tmp_path: Path, db: Path, project: str) -> Path:
    path = tmp_path / f"{project}.yaml"
    path.write_text(
        f"paths: {{root: '{tmp_path / project}'}}\n"
        f"tracking: {{uri: 'sqlite:///{db}', artifact_location: '{tmp_path / 'server' / 'artifacts'}'}}\n"
    )
    return path


def _client(db: Path):
    uri = f"sqlite:///{db}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _train_a(tmp_path, db):
    a = _cfg(tmp_path, db, "A")
    h.gate_on_rows(a, tmp_path / "A", h.linear_ensemble(0.5), "r1", h.rows(300, seed=1))
    return a


def test_another_project_neither_gates_against_nor_takes_the_champion(shared, tmp_path):
    a = _train_a(tmp_path, shared)
    b = _cfg(tmp_path, shared, "B")
    # B's model is better on B's window: before, it became the champion A scores with
    with pytest.raises(TrackingError, match="belongs to another project") as caught:
        h.gate_on_rows(b, tmp_path / "B", h.linear_ensemble(3.0), "r1", h.rows(300, seed=2))
    assert "registry.model_name" in str(caught.value)
    assert project_identity(a) in str(caught.value)
    client = _client(shared)
    assert [str(v.version) for v in client.search_model_versions(f"name = '{NAME}'")] == ["1"]
    model = client.get_registered_model(NAME)
    assert model.aliases == {"champion": 1}
    assert model.tags[PROJECT_TAG] == project_identity(a) == (tmp_path / "A").resolve().as_uri()

    # the remedy the error names: a model name of its own, on the same store
    own = _cfg(tmp_path, shared, "B", **{"registry.model_name": "fraud-ensemble-b"})
    out, _ = h.gate_on_rows(own, tmp_path / "B", h.linear_ensemble(3.0), "r2", h.rows(300, 2))
    assert (out["name"], out["version"], out["decision"]) == ("fraud-ensemble-b", "1", "champion")
    assert client.get_registered_model("fraud-ensemble-b").tags[PROJECT_TAG] == project_identity(b)
    assert client.get_registered_model(NAME).aliases == {"champion": 1}  # A's, untouched


def test_reading_another_projects_champion_is_refused(shared, tmp_path, capsys, caplog):
    a = _train_a(tmp_path, shared)
    assert resolve_model(CHAMPION, config=a).version == "1"  # its own project reads it
    named = _cfg(tmp_path, shared, "B", **{"tracking.project": "credit-cards"})
    with pytest.raises(TrackingError, match="belongs to another project") as caught:
        resolve_model(CHAMPION, config=named)  # what B's score / evaluate of @champion load
    assert "silently wrong" in str(caught.value)
    # neither names itself: another root may be the same project (a scoring machine with
    # a writable root of its own): read, with one WARNING naming both and the remedy
    b = _cfg(tmp_path, shared, "B")
    caplog.set_level("WARNING", logger="fraud_app.tracking.ownership")
    assert resolve_model(CHAMPION, config=b).version == "1"
    said = [r.getMessage() for r in caplog.records
            if r.name == "fraud_app.tracking.ownership" and r.levelname == "WARNING"]  # fmt: skip
    assert len(said) == 1 and "belongs to another project" in said[0], said
    assert f"tracking.project: {project_identity(a)!r}" in said[0]

    # promote from B: it moved A's champion
    b_yaml = str(_yaml(tmp_path, shared, "B"))
    assert main(["-c", b_yaml, "promote", "1"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "belongs to another project" in lines[0], err
    assert _client(shared).get_registered_model(NAME).aliases == {"champion": 1}
    # models from B: listed as if they were B's (a champion B never trained)
    assert main(["-c", b_yaml, "models"]) == 0
    out = capsys.readouterr().out
    assert f"NOTE: this model belongs to another project ({PROJECT_TAG} '" in out

    # the same project on another root (a scoring machine): tracking.project names it
    same = _cfg(tmp_path, shared, "scoring", **{"tracking.project": project_identity(a)})
    assert resolve_model(CHAMPION, config=same).version == "1"
    # another model name is a deliberate choice: read as asked
    other = _cfg(tmp_path, shared, "B", **{"registry.model_name": "fraud-ensemble-b"})
    assert resolve_model(f"models:/{NAME}/1", config=other).version == "1"


def test_train_of_another_project_stops_before_spark(shared, tmp_path, capsys):
    """Before: nothing stopped it (it trained, then its gate took A's champion)."""
    _train_a(tmp_path, shared)
    assert main(["-c", str(_yaml(tmp_path, shared, "B")), "train", "--run", "r1"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "belongs to another project" in lines[0] and "nothing was trained" in lines[0]
    assert "registry.model_name" in lines[0] and "tracking.project" in lines[0]
    assert "Spark" not in err  # refused before the session started


def test_a_model_registered_before_the_tag_is_adopted_by_its_next_registration(shared, tmp_path):
    """A store written by an older release: its model has no owner. The next registration
    under that name (the project that trains on) adopts it; then another project is refused."""
    a = _train_a(tmp_path, shared)
    client = _client(shared)
    client.delete_registered_model_tag(NAME, PROJECT_TAG)
    out, _ = h.gate_on_rows(a, tmp_path / "A", h.linear_ensemble(0.6), "r2", h.rows(300, 1))
    assert out["version"] == "2"
    assert client.get_registered_model(NAME).tags[PROJECT_TAG] == project_identity(a)
    with pytest.raises(TrackingError, match="belongs to another project"):
        check_before_training(_cfg(tmp_path, shared, "B"))  # what `train` checks first


def test_the_embedded_store_of_a_moved_root_stays_its_own(mlflow_template, tmp_path, monkeypatch):
    """One project, its own store under paths.root (the default): the tag names the root it
    was first registered from; the same store after `mv` of the root is still this project's."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow_template.copy_to(tmp_path / "old")
    old = h.config(tmp_path / "old")
    h.gate_on_rows(old, tmp_path / "old", h.linear_ensemble(0.5), "r1", h.rows(300, seed=1))
    (tmp_path / "old").rename(tmp_path / "new")
    new = h.config(tmp_path / "new")
    out, _ = h.gate_on_rows(new, tmp_path / "new", h.linear_ensemble(0.6), "r2", h.rows(300, 1))
    assert out["version"] == "2"
    assert resolve_model(CHAMPION, config=new).version in ("1", "2")


def test_a_remote_root_is_its_own_identity_from_any_working_directory(tmp_path, monkeypatch):
    # paths.root on HDFS / S3: the identity is the URI as written, not a local path under the
    # working directory (a cron job and an Airflow task of one project, started in other
    # folders, were two projects, and the second one's train was refused)
    seen = set()
    for folder in ("cron", "airflow"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        for root in ("hdfs://nn:8020/fraud", "hdfs://nn:8020/fraud/"):
            remote = {"paths.root": root, "paths.local_root": str(tmp_path / "driver")}
            seen.add(project_identity(h.config(tmp_path, **remote)))
    assert seen == {"hdfs://nn:8020/fraud"}
    monkeypatch.chdir(tmp_path / "cron")
    assert project_identity(h.config(tmp_path, **{"paths.root": "work"})) == (
        (tmp_path / "cron" / "work").resolve().as_uri()
    )
    assert project_identity(h.config(tmp_path, **{"tracking.project": "debit"})) == "debit"


def test_a_renamed_model_s_default_scoring_model_is_its_own_champion(shared, tmp_path):
    """Project B follows the advice above (a model name of its own) and leaves scoring.model
    out: its `score` loaded models:/fraud-ensemble@champion, A's champion (another name than
    B's registry.model_name is read as asked, unchecked), and scored B's transactions with
    A's model without a word (session 50). Now the default is B's own champion."""
    _train_a(tmp_path, shared)
    b = _cfg(tmp_path, shared, "B", **{"registry.model_name": "fraud-ensemble-b"})
    assert b.scoring.model == "models:/fraud-ensemble-b@champion"
    with pytest.raises(Exception, match="registered model 'fraud-ensemble-b' does not exist"):
        resolve_model(b.scoring.model, config=b)  # B has trained nothing yet: not A's model
    h.gate_on_rows(b, tmp_path / "B", h.linear_ensemble(2.0), "b1", h.rows(300, seed=2))
    resolved = resolve_model(b.scoring.model, config=b)
    assert (resolved.name, resolved.version) == ("fraud-ensemble-b", "1")
    # given, scoring.model is read as written; the default name keeps the default URI
    mine = _cfg(tmp_path, shared, "B", **{"registry.model_name": "fraud-ensemble-b",
                                          "scoring.model": CHAMPION})  # fmt: skip
    assert mine.scoring.model == CHAMPION
    assert _cfg(tmp_path, shared, "A").scoring.model == CHAMPION


def test_a_kept_scoring_model_line_naming_another_projects_model_is_warned(
    shared, tmp_path, caplog
):
    """Every config `fraud-app init` wrote before session 50 sets scoring.model:
    models:/fraud-ensemble@champion. Project B renamed its model (the advice above) and kept
    that line: its `score` read A's champion, and nothing said so (another name than
    registry.model_name is read as asked, unchecked). Still read as asked, with one WARNING
    naming both projects and the line to remove (review50a)."""
    a = _train_a(tmp_path, shared)
    b = _cfg(tmp_path, shared, "B", **{"registry.model_name": "fraud-ensemble-b",
                                       "scoring.model": CHAMPION})  # fmt: skip
    caplog.set_level("WARNING", logger="fraud_app.tracking.ownership")
    for _ in range(2):  # score resolves before Spark and again in the job: said once
        assert resolve_model(b.scoring.model, config=b).version == "1"
    said = [r.getMessage() for r in caplog.records
            if r.name == "fraud_app.tracking.ownership" and r.levelname == "WARNING"]  # fmt: skip
    assert len(said) == 1, said
    assert f"names registered model {NAME!r} of another project" in said[0]
    assert repr(project_identity(a)) in said[0] and "'fraud-ensemble-b'" in said[0]
    assert "models:/fraud-ensemble-b@champion" in said[0]
    # A's own project, and a model of no project (registered before the tag): nothing said
    caplog.clear()
    assert resolve_model(CHAMPION, config=a).version == "1"
    _client(shared).delete_registered_model_tag(NAME, PROJECT_TAG)
    c = _cfg(tmp_path, shared, "C", **{"registry.model_name": "fraud-ensemble-c"})
    assert resolve_model(CHAMPION, config=c).version == "1"
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []
