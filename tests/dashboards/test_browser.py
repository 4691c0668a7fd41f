"""Every page opened in headless Chromium: from fixture files (fast) and from a real small
workflow run (slow: real Spark, Great Expectations, distributed training).

Set DASHBOARD_SCREENSHOTS=docs/img to write the README's screenshots (one per page kind):
    DASHBOARD_SCREENSHOTS=docs/img pytest -m 'slow or not slow' tests/dashboards/test_browser.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboards import render_all
from dashboards.html import PAGES
from tests.dashboards.browser import assert_pages_ok, check_pages, require_browser

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def _screenshots(names: list[str]) -> dict[str, Path] | None:
    target = os.environ.get("DASHBOARD_SCREENSHOTS")
    return {n: Path(target) / n.replace(".html", ".png") for n in names} if target else None


def _pages(output: Path, run: str) -> list[Path]:
    run_dir = output / run
    return [output / "index.html", run_dir / "index.html", *(run_dir / f"{s}.html" for s in PAGES)]


def test_fixture_pages_open_offline_with_every_plot_drawn(small_run):
    require_browser()
    render_all(small_run)
    pages = _pages(small_run.output, "r1")
    results = check_pages(pages, _screenshots(["scoring.html"]))
    assert_pages_ok(results)
    plots = {r.path.name: r.plots for r in results if r.path.parent.name == "r1"}
    # every section of the fixture has its plot (see test_render.SECTIONS)
    assert plots == {"index.html": 0, "training.html": 4, "model-quality.html": 7,
                     "data-quality.html": 3, "scoring.html": 5}  # fmt: skip
    # the quarantine sample's reason and detail cells are there and keep whole words
    cells = {r.path.name: r.words_cells for r in results if r.path.parent.name == "r1"}
    assert cells["data-quality.html"] > 0


@pytest.fixture(scope="session")
def browser():
    """Skips before `spark` (same scope, named after it) starts a JVM when there is no
    browser: run alone, the skip cost a Spark start (89 s, session 36)."""
    return require_browser()


@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.integration
def test_pages_of_a_real_workflow_run(browser, spark, tmp_path):
    from fraud_app.config import load_config
    from pipelines.reporting import dashboard_sources, render_dashboards
    from pipelines.workflow.pipeline import run_workflow

    config = load_config(DEMO, {
        "paths.root": str(tmp_path), "generate.n_transactions": 12_000,
        "generate.n_cards": 1_500, "generate.n_merchants": 300, "generate.fraud_rate": 0.01,
        "generate.partitions": 2, "balancing.unionpay_subsets.n_subsets": 2,
        "training.distributed.epochs": 30, "training.distributed.global_batch_size": 128,
        "training.model.hidden": [16],
    })  # fmt: skip
    run_workflow(spark, config, generate=True, run="e2e")
    written = render_dashboards(config, "e2e")
    output = dashboard_sources(config).output
    assert {p.name for p in written} >= {f"{s}.html" for s in PAGES}
    results = check_pages(
        _pages(output, "e2e"),
        _screenshots(["training.html", "model-quality.html", "data-quality.html"]),
    )
    assert_pages_ok(results)
    plots = {r.path.name: r.plots for r in results if r.path.parent.name == "e2e"}
    assert plots["training.html"] >= 3 and plots["model-quality.html"] >= 4
    assert plots["data-quality.html"] == 3  # quarantine, rows per step, rows per day


def test_quarantine_sample_keeps_reasons_whole_beside_long_records(tmp_path):
    # a raw record of long values takes the width: the reason column used to shrink to a
    # few characters and show `label_time_before_timestamp` cut mid-word over four lines
    import pandas as pd

    from dashboards.html import plain_page
    from dashboards.pages.data_quality import _sample

    record = {f"raw_column_{i}": "x" * 40 + f" value {i}" for i in range(12)}
    sample = pd.DataFrame([
        {"reason": "label_time_before_timestamp",
         "reason_detail": "label_time '2024-01-01 13:15:56' is before timestamp", **record},
        {"reason": "amount_below_minimum", "reason_detail": "amount '-1' is below 0", **record},
    ])  # fmt: skip
    path = tmp_path / "sample.html"
    path.write_text(plain_page("sample", _sample(sample)))
    (result,) = check_pages([path])
    assert result.words_cells == 4
    assert_pages_ok([result])
