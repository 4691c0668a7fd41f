"""`fraud-app prune` and the dashboards' one shared plotly.js (session 32, helper feat32f):
prune removes a run's page folder (`reports/dashboards/<run>/`), never
`reports/dashboards/assets/`, which the pages left (and backtest pages) load. Real pages
rendered by `pipelines.reporting.render_dashboards` over test_prune's project (real files,
a real MLflow registry on sqlite); each remaining page's script src is resolved and read."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from dashboards.assets import ASSETS, plotly_name
from pipelines.prune.pipeline import prune
from pipelines.reporting import dashboard_sources, render_dashboards
from tests.pipelines.test_prune import _config, _names, _training_run, build_project

pytestmark = pytest.mark.integration
SHA = hashlib.sha256(get_plotlyjs().encode("utf-8")).hexdigest()


def _scripts(page: Path) -> list[Path]:
    srcs = re.findall(r'<script src="([^"]+)"', page.read_text(encoding="utf-8"))
    return [(page.parent / s).resolve() for s in srcs]


def test_prune_keeps_the_shared_plotly_the_pages_left_load(tmp_path, fresh_store, monkeypatch):
    root, _, _ = build_project(tmp_path, fresh_store, monkeypatch)
    # a run named like the shared folder: its pages go to `_assets/`, which prune removes
    _training_run(root, "assets", days=90)
    (root / "reports" / "dashboards" / "assets" / "index.html").unlink()  # the fixture's page
    config = _config(root, training_runs={"keep_last": 1})
    render_dashboards(config)
    output = dashboard_sources(config).output
    shared = output / ASSETS / plotly_name()
    assert (output / "_assets" / "training.html").is_file() and shared.is_file()

    result = prune(config)

    assert {"r0", "r1", "r4", "assets"} <= _names(result, "training_runs")
    assert not (output / "r0").exists() and not (output / "_assets").exists()
    assert hashlib.sha256(shared.read_bytes()).hexdigest() == SHA
    pages = [p for p in output.rglob("*.html") if len(_scripts(p)) > 0]
    assert {p.parent.name for p in pages} >= {"r2", "r3", "r5", "r6"}
    for page in pages:
        assert _scripts(page) == [shared.resolve()], page
    # the index prune rewrote links only runs whose pages are there
    index = (output / "index.html").read_text()
    links = re.findall(r'<a href="([^"]+)">', index)
    assert links and all((output / link).is_file() for link in links), links
    assert 'href="r0/index.html"' not in index and 'href="r6/index.html"' in index
