"""Rendering every page from contract-following fixture files (no Spark, no browser)."""

from __future__ import annotations

import json
import logging
import re

import pytest

from dashboards import DashboardOptions, render_all, render_run
from dashboards.assets import plotly_name, plotly_src
from dashboards.errors import DashboardInputError
from dashboards.html import PAGES
from dashboards.sources import Sources, load_run
from dashboards.synthetic import SyntheticRun, write_run

SECTIONS = {
    "training.html": ["Ensemble members", "Loss", "Validation average precision",
                      "Where the time goes", "Throughput and time line"],
    "model-quality.html": ["Headline figures", "Registry decision: champion", "Precision-recall",
                           "ROC", "Score distributions", "Threshold table around the alert budget",
                           "Card precision@k", "Alert budgets in saved evaluations",
                           "Recall per fraud pattern"],
    "data-quality.html": ["Validation: canonical suite passed", "Quarantine", "Rows per step",
                          "Transactions and label rate per day"],
    "scoring.html": ["Scoring jobs", "Alerts and mean score", "Feature drift over time",
                     "Feature drift on the latest scored date", "Score drift",
                     "Score distribution: latest day vs training"],
}  # fmt: skip


def _h2(text: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", text)


def test_every_page_has_every_section_and_loads_nothing_remote(small_run):
    written = render_all(small_run)
    run_dir = small_run.output / "r1"
    names = sorted(p.name for p in written)
    stills = ["precision_recall.svg", "roc.svg", "score_histogram.svg", "training_loss.svg",
              "validation_ap.svg"]  # fmt: skip
    assert names == sorted(
        [*(f"{s}.html" for s in PAGES), "index.html", "index.html", plotly_name(), *stills]
    )
    for name, expected in SECTIONS.items():
        text = (run_dir / name).read_text()
        assert _h2(text) == expected, name
        assert re.findall(r'<script src="([^"]+)"', text) == [plotly_src()]
        assert "cdn.plot.ly" not in text and "https://" not in text.replace(
            "https://plotly.com", ""
        )
    assert (run_dir / plotly_src()).stat().st_size > 1_000_000
    top = (small_run.output / "index.html").read_text()
    assert 'href="r1/index.html"' in top and "0.9500" in top  # test ROC AUC, 4 decimals


def test_numbers_are_formatted_for_people(small_run):
    render_run(small_run, "r1")
    quality = (small_run.output / "r1" / "model-quality.html").read_text()
    assert "3,000" in quality  # test transactions with a thousands separator
    assert '<tr class="focus"><td class="num">1.00%</td>' not in quality  # first cell is text
    # 1 % of each of the 5 days' ~600 rows, rounded up per day (dlcore.daily_ranking): 32
    assert re.search(r'<tr class="focus"><td>1\.00%</td><td class="num">32</td>', quality)
    # saved evaluations: budgets of an old file (the window) and the model's own threshold
    assert "the window (before session 20)" in quality
    row = (
        r'<td class="num">the model&#x27;s threshold</td><td>every day, score &gt;= threshold'
        r'</td><td class="num">12\.0</td><td class="num">0\.3100</td>'
    )
    assert re.search(row, quality)
    data = (small_run.output / "r1" / "data-quality.html").read_text()
    assert "300,030" in data and "FAIL" in data  # raw rows; the failing warning check


def test_the_configured_budget_comes_from_the_model_metadata(small_run):
    meta_path = small_run.models / "r1" / "ensemble.json"
    meta = json.loads(meta_path.read_text())
    meta["metadata"]["scoring"]["alert_budget"] = 0.02
    meta_path.write_text(json.dumps(meta))
    render_run(small_run, "r1", DashboardOptions(alert_budget=0.5))
    quality = (small_run.output / "r1" / "model-quality.html").read_text()
    assert re.search(r'<tr class="focus"><td>2\.00%</td>', quality)


def test_pages_render_with_only_a_training_report(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "training-bare.json").write_text(json.dumps({"run": "bare", "members": []}))
    written = render_all(Sources(reports=reports, output=tmp_path / "out"))
    assert len(written) == 7
    scoring = (tmp_path / "out" / "bare" / "scoring.html").read_text()
    assert "No scoring summaries for this run" in scoring and "<figure" not in scoring


def test_summaries_of_another_model_are_not_shown(small_run):
    for p in small_run.reports.glob("scoring-*.json"):
        doc = json.loads(p.read_text())
        p.write_text(json.dumps({**doc, "model_uri": "/elsewhere/other-run"}))
    assert load_run(small_run, "r1").scoring == []


def test_registry_name_and_version_match_a_summary(tmp_path):
    src = write_run(tmp_path, SyntheticRun(run="r2", members=1, groups=2, scored_days=1,
                                           test_rows=500, features=3))  # fmt: skip
    for p, version in zip(sorted(src.reports.glob("scoring-*.json")), ("2", "3"), strict=True):
        doc = json.loads(p.read_text())
        p.write_text(json.dumps({**doc, "model_uri": "models:/fraud@champion",
                                 "model_name": "fraud", "model_version": version}))  # fmt: skip
    # the training report's registry block says fraud version 3
    assert [d["_file"] for d in load_run(src, "r2").scoring] == ["scoring-job1.json"]


def test_bad_inputs_are_named(small_run, tmp_path):
    with pytest.raises(DashboardInputError, match=r"no training report .*training-nope.json.*r1"):
        load_run(small_run, "nope")
    (small_run.reports / "evaluation-broken.json").write_text("{not json")
    # it may be r1's: named for the sections that read evaluations (it failed the run)
    why = load_run(small_run, "r1").unreadable["evaluations"]
    assert why.startswith(f"{small_run.reports / 'evaluation-broken.json'}: cannot read it as JSON")


def test_render_logs_the_time(small_run, caplog):
    with caplog.at_level(logging.INFO, logger="dashboards.render"):
        render_run(small_run, "r1")
    assert "run r1 rendered to" in caplog.text


def test_score_bin_labels_from_edges_or_cut_points():
    from dashboards.pages.scoring import bin_labels

    assert bin_labels([0, 0.5, 1], 2) == ["0.000 to 0.500", "0.500 to 1.000"]
    # fraud_app.scoring.reference: right-closed bins around inner cut points
    assert bin_labels([0.1, 0.2], 3) == ["≤ 0.100", "0.100 to 0.200", "> 0.200"]
    assert bin_labels([], 2) == ["bin 1", "bin 2"]
    # scores' deciles far below 0.001 (they read "0.000 to 0.000"), two close ones
    small = bin_labels([2.1345e-05, 2.1349e-05, 0.00113, 0.006], 5)
    assert small == [
        "≤ 2.134e-05",
        "2.134e-05 to 2.135e-05",
        "2.135e-05 to 0.00113",
        "0.00113 to 0.006",
        "> 0.006",
    ]


def test_a_broken_input_leaves_a_message_on_its_page_only(small_run):
    for p in small_run.reports.glob("scoring-*.json"):
        doc = json.loads(p.read_text())
        doc["reference"]["feature_props"] = doc["reference"]["feature_props"][:1]  # breaks C2
        p.write_text(json.dumps(doc))
    render_run(small_run, "r1")
    scoring = (small_run.output / "r1" / "scoring.html").read_text()
    assert "This page could not be drawn" in scoring and "feature_props has 1 entries" in scoring
    assert _h2((small_run.output / "r1" / "training.html").read_text()) == SECTIONS["training.html"]
