"""Dashboard pages written after a training run land in that run's MLflow artifacts."""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow

from fraud_app.config import load_config
from pipelines.reporting import index_path, log_dashboards_safely


def test_pages_are_logged_under_dashboards_keeping_their_layout(tmp_path, fresh_store):
    config = load_config(None, {"paths.root": str(tmp_path)})
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = config.model_copy(update={"tracking": config.tracking.model_copy(update={"uri": uri})})
    root = index_path(config).parent
    (root / "run-1").mkdir(parents=True)
    pages = [root / "index.html", root / "run-1" / "training.html"]
    for p in pages:
        p.write_text("<html></html>")
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("t", artifact_location=str(tmp_path / "art"))
    run_id = client.create_run(exp).info.run_id

    log_dashboards_safely(config, run_id, pages)

    top = {f.path for f in client.list_artifacts(run_id, "dashboards")}
    assert top == {"dashboards/index.html", "dashboards/run-1"}
    assert [f.path for f in client.list_artifacts(run_id, "dashboards/run-1")] == [
        "dashboards/run-1/training.html"
    ]


def test_a_failure_to_log_never_raises(tmp_path):
    config = load_config(None, {"paths.root": str(tmp_path)})
    log_dashboards_safely(config, "no-such-run", [tmp_path / "missing.html"])


def test_a_failure_to_log_is_one_warning_line_naming_the_pages(tmp_path, caplog):
    """It was an ERROR with a traceback (a full artifact store, an unknown run) for a
    failure that loses nothing: the pages are on disk."""
    config = load_config(None, {"paths.root": str(tmp_path)})
    page = index_path(config)
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    with caplog.at_level(logging.DEBUG, logger="pipelines.reporting"):
        log_dashboards_safely(config, "no-such-run", [page])
    above_debug = [r for r in caplog.records if r.levelno > logging.DEBUG]
    [record] = [r for r in above_debug if "dashboards" in r.getMessage()]
    assert record.levelname == "WARNING" and record.exc_info is None
    message = record.getMessage()
    assert message.startswith("could not log the dashboards to MLflow run no-such-run (")
    assert "\n" not in message and message.endswith(f"the pages are in {page.parent}")


def test_a_runs_artifacts_hold_one_plotly_js_its_pages_load(tmp_path, fresh_store):
    """Session 32: the pages share `dashboards/assets/plotly-<version>.min.js`; a run's
    artifacts get one copy (logged once, not once per rendered run) at the same relative
    place, so the downloaded `dashboards/` folder opens offline."""
    import hashlib
    import re

    from plotly.offline import get_plotlyjs

    from dashboards.assets import plotly_name
    from dashboards.synthetic import SyntheticRun, write_run
    from pipelines.reporting import render_dashboards

    for k, run in enumerate(("r1", "r2")):
        write_run(tmp_path, SyntheticRun(run=run, test_rows=2000, groups=4, scored_days=4,
                                         features=6, seed=k))  # fmt: skip
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.uri": uri})
    written = render_dashboards(config)
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("t", artifact_location=str(tmp_path / "art"))
    run_id = client.create_run(exp).info.run_id

    log_dashboards_safely(config, run_id, written)

    assert [f.path for f in client.list_artifacts(run_id, "dashboards/assets")] == [
        f"dashboards/assets/{plotly_name()}"
    ]
    local = Path(client.download_artifacts(run_id, "dashboards", str(tmp_path / "dl")))
    assert [p.name for p in local.rglob("*.js")] == [plotly_name()]
    page = local / "r1" / "scoring.html"
    [src] = re.findall(r'<script src="([^"]+)"', page.read_text())
    data = (page.parent / src).read_bytes()
    assert hashlib.sha256(data).digest() == hashlib.sha256(get_plotlyjs().encode()).digest()
    # the SVG stills, which MLflow's own viewer shows (it cannot load the pages' plotly.js)
    plots = {f.path for f in client.list_artifacts(run_id, "dashboards/r1/plots")}
    assert {"dashboards/r1/plots/precision_recall.svg", "dashboards/r1/plots/roc.svg"} <= plots
