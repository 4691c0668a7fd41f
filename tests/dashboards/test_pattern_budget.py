"""The recall per fraud pattern says the alert budget it is at (session 50): an
evaluation's `pattern_recall_budget` (evaluate and train take it from the config's
scoring.alert_budget at the time) may differ from the budget the page's threshold table
is built around, and two evaluations at 1 % and 2 % were bars side by side under their
file names alone. The page's plotly figure is decoded (no browser)."""

from __future__ import annotations

import json
import re

from dashboards.render import render_run


def _pattern_traces(page: str) -> list[dict]:
    decoder = json.JSONDecoder()
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        data, end = decoder.raw_decode(page, match.end())
        layout, _ = decoder.raw_decode(page[end:].lstrip().lstrip(",").lstrip())
        if layout["title"]["text"] == "Recall per fraud pattern":
            return data
    raise AssertionError("no pattern figure")


def test_each_evaluations_pattern_recall_names_its_alert_budget(small_run):
    test = small_run.reports / "evaluation-r1-test.json"
    doc = json.loads(test.read_text())
    older = {**doc, "window": {"start": "2024-02-13", "end": "2024-02-17"}}  # no budget key
    (small_run.reports / "evaluation-r1-validation.json").write_text(json.dumps(older))
    test.write_text(json.dumps({**doc, "pattern_recall_budget": 0.02}))
    render_run(small_run, "r1")
    page = (small_run.output / "r1" / "model-quality.html").read_text(encoding="utf-8")
    assert [t["name"] for t in _pattern_traces(page)] == [
        "evaluation-r1-test.json (alert budget 2.00%)",
        "evaluation-r1-validation.json",  # written before the key: said as it was
    ]
    assert all("%{fullData.name}" in t["hovertemplate"] for t in _pattern_traces(page))
