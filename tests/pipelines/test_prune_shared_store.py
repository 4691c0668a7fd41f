"""`fraud-app prune` of one project on a tracking store another project shares (helper
shared37, session 37): the same experiment (both keep the default) and the same `--run`
names. Real files under paths.root and a real MLflow registry on sqlite (test_prune's
project). Before: A's prune deleted B's MLflow runs of the names it removed, and B's
champion run `r1` kept A's `r1` ("fraud-ensemble-b v1 holds alias champion")."""

from __future__ import annotations

import pytest

from pipelines.prune.pipeline import prune
from tests.fraud_app.tracking import helpers as h
from tests.pipelines.test_prune import _config, _names, build_project
from tests.pipelines.test_prune_probes import _tracked

pytestmark = pytest.mark.integration
OTHER = "file:///srv/credit-cards/work"  # project B's identity (its paths.root)


@pytest.fixture
def project(tmp_path, fresh_store, monkeypatch):
    """test_prune's project (8 training runs, r2 champion, r5 challenger, r3 a source),
    its reports naming their MLflow runs, as `train` with tracking on writes them."""
    root, client, ids = build_project(tmp_path, fresh_store, monkeypatch)
    _tracked(root, ids)
    return root, client, ids


def _b_run(client, run: str, tags: dict) -> tuple[str, str]:
    """Project B's training run `run` (and a nested run) in the same experiment."""
    exp = client.get_experiment_by_name("fraud-app").experiment_id
    parent = client.create_run(
        exp, tags={"fraud_app.run": run, "fraud_app.kind": "training", **tags}
    )
    child = client.create_run(exp, tags={"mlflow.parentRunId": parent.info.run_id})
    return parent.info.run_id, child.info.run_id


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "older-release"])
def test_prune_deletes_only_its_own_projects_mlflow_runs(project, tagged):
    root, client, ids = project
    theirs = _b_run(client, "r0", {"fraud_app.project": OTHER} if tagged else {})
    result = prune(_config(root, training_runs={"keep_last": 1}, mlflow_runs=True))
    assert _names(result, "training_runs") == {"r0", "r1", "r4"}
    stage = lambda i: client.get_run(i).info.lifecycle_stage  # noqa: E731
    assert [stage(i) for i in ids["r0"]] == ["deleted", "deleted"]  # A's own r0
    assert [stage(i) for i in theirs] == ["active", "active"]  # B's r0: not A's to delete
    assert result.mlflow_runs == 4  # A's r0 and r1, with their nested runs


def test_another_projects_champion_run_holds_nothing_here(project):
    """B's model (its own name, the remedy for a shared store) holds alias champion; its
    run is B's `r1`. A's `r1` has no alias: pruned as any other."""
    root, client, _ = project
    theirs = _b_run(client, "r1", {"fraud_app.project": OTHER})
    client.create_registered_model("fraud-ensemble-b")
    source = h.linear_ensemble(1.0).save(root / "other-project" / "r1")
    client.create_model_version("fraud-ensemble-b", str(source), run_id=theirs[0])
    client.set_registered_model_alias("fraud-ensemble-b", "champion", "1")
    result = prune(_config(root, training_runs={"keep_last": 1}))
    assert "r1" in _names(result, "training_runs")
    kept = {d.item.name: d.why for d in result.kinds["training_runs"].kept}
    assert "fraud-ensemble-b" not in str(kept)
