"""Which run's pages show an evaluation or scoring summary (session 50). A report names its
model by a registry URI (`models:/<name>/<version>`, with model_name / model_version) or by
the model's folder. The folder's last name was also matched against registry URIs: a run
named `3` (`train --run 3`) took every report on `models:/fraud/3`, whichever run's model
that version is, and showed it as its own."""

from __future__ import annotations

import json

from dashboards.render import render_all
from dashboards.sources import belongs_to
from dashboards.synthetic import SyntheticRun, write_run

SPEC = dict(members=2, groups=6, scored_days=4, test_rows=600, features=3)


def test_a_run_named_as_a_version_does_not_take_that_versions_reports(tmp_path):
    write_run(tmp_path, SyntheticRun(run="r9", **SPEC))  # registered as fraud version 3
    src = write_run(tmp_path, SyntheticRun(run="3", seed=1, **SPEC))
    training = src.reports / "training-3.json"
    doc = json.loads(training.read_text())
    doc["registry"]["version"] = 7  # the run `3` is fraud version 7
    training.write_text(json.dumps(doc))
    evaluation = {**json.loads((src.reports / "evaluation-r9-test.json").read_text()),
                  "model_uri": "models:/fraud/3", "model_name": "fraud", "model_version": "3"}  # fmt: skip
    (src.reports / "evaluation-e1.json").write_text(json.dumps(evaluation))
    render_all(src)
    own = (src.output / "3" / "model-quality.html").read_text()
    other = (src.output / "r9" / "model-quality.html").read_text()
    assert "evaluation-e1.json" in other
    assert "evaluation-e1.json" not in own


def test_a_model_folder_still_matches_by_its_name():
    training = {"registry": {"name": "fraud", "version": 7}, "model_path": "/root/models/3"}
    for uri, own in [("models:/fraud/3", False), ("runs:/0a1b/3", False),
                     ("/moved/root/models/3", True), ("models/3", True),
                     ("s3://bucket/models/3", True), ("models:/fraud/7", True)]:  # fmt: skip
        assert belongs_to({"model_uri": uri}, "3", training) is own, uri
