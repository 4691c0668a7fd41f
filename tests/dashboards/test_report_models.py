"""Which run's page an evaluation report or scoring summary belongs on (belongs_to): by the
registered name and version it names, by the run's model directory, and (review50a) by the
run's logged model outside the registry: `runs:/<the run's MLflow run id>/model` and its
`models:/m-<id>`, the model_name session 50 writes for them (before: `ensemble` version
`local`); such reports were on no run's page. A registered name may hold `@` (fraud@eu):
an old report without model_name is matched by its models:/fraud@eu/<version> URI. Pure
logic: report dicts as the files hold them."""

from __future__ import annotations

from dashboards.sources import belongs_to

RUN_ID = "0123456789abcdef0123456789abcdef"
TRAINING = {
    "run": "r1",
    "model_path": "/work/models/r1",
    "mlflow_run_id": RUN_ID,
    "registry": {"name": "fraud@eu", "version": "2", "model_uri": "models:/m-0a1b2c"},
}


def _doc(uri, name=None, version=None):
    return {"model_uri": uri, "model_name": name, "model_version": version}


def test_a_runs_logged_model_is_on_its_page():
    for uri in (f"runs:/{RUN_ID}/model", "models:/m-0a1b2c"):
        assert belongs_to(_doc(uri, uri, "unregistered"), "r1", TRAINING), uri
    assert not belongs_to(_doc("runs:/ffff/model", "runs:/ffff/model", "unregistered"), "r1",
                          TRAINING)  # fmt: skip
    assert not belongs_to(_doc("models:/m-other", "models:/m-other", "unregistered"), "r1",
                          TRAINING)  # fmt: skip
    assert not belongs_to(_doc(f"runs:/{RUN_ID}/model"), "r1", {"run": "r1"})  # no tracking


def test_registered_versions_and_directories_as_before():
    assert belongs_to(_doc("models:/fraud@eu@champion", "fraud@eu", "2"), "r1", TRAINING)
    assert not belongs_to(_doc("models:/fraud@eu/3", "fraud@eu", "3"), "r1", TRAINING)
    assert belongs_to(_doc("models:/fraud@eu/2"), "r1", TRAINING)  # an old report: no name
    assert belongs_to(_doc("/work/models/r1/", "r1", "local"), "r1", TRAINING)
    assert not belongs_to(_doc("/work/models/r2", "r2", "local"), "r1", TRAINING)
