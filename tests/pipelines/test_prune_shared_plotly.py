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
from pipelines.prune.pipeline import prune, summary
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


def _load_bundle(folder: Path, name: str) -> None:
    """The folder's pages load `../assets/<name>` (as pages drawn by an older plotly do)."""
    for page in folder.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace(f"../{ASSETS}/{plotly_name()}", f"../{ASSETS}/{name}"))


def test_prune_removes_the_bundles_of_older_plotly_versions_no_page_loads(
    tmp_path, fresh_store, monkeypatch
):
    # a plotly upgrade writes a new bundle beside the old one; the old one stayed for good,
    # 4.8 MB each, after the last page that loaded it was pruned
    root, _, _ = build_project(tmp_path, fresh_store, monkeypatch)
    config = _config(root, training_runs={"keep_last": 1})
    render_dashboards(config)
    output = dashboard_sources(config).output
    assets = output / ASSETS
    current = assets / plotly_name()
    only_pruned, still_loaded = assets / "plotly-0.9.0.min.js", assets / "plotly-0.8.0.min.js"
    for bundle in (only_pruned, still_loaded):
        bundle.write_bytes(b"x" * 1000)
    _load_bundle(output / "r0", only_pruned.name)  # r0, r1 are pruned
    _load_bundle(output / "r1", only_pruned.name)
    _load_bundle(output / "r2", still_loaded.name)  # r2 stays (the champion's run)

    dry = prune(config, dry_run=True)
    assert dry.bundles == [only_pruned] and dry.bundle_bytes == 1000
    assert only_pruned.is_file() and (output / "r0").is_dir()
    assert "1 unused plotly.js bundle of the dashboards" in summary(dry)

    result = prune(config)

    assert result.bundles == [only_pruned] and not only_pruned.exists()
    assert still_loaded.is_file() and current.is_file()
    assert hashlib.sha256(current.read_bytes()).hexdigest() == SHA
    assert dry.freed == result.freed
    # nothing else unused: a second prune removes no bundle
    assert prune(config).bundles == []
    # once no page loads it (r2's pages drawn again with today's plotly), it goes too
    render_dashboards(config)
    assert prune(config).bundles == [still_loaded] and current.is_file()
