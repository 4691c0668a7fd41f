"""The per-render report index: the same pages as parsing every report for every run,
each report parsed once for the index (and again only by its run), and a report rewritten
during the render read again, not served from the index."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from dashboards import render_all
from dashboards.report_index import ReportIndex, UncachedIndex
from dashboards.sources import load_run
from dashboards.synthetic_year import SyntheticYear, run_name, write_year

# three weekly runs, 21 daily scoring summaries, 42 validation reports
YEAR = SyntheticYear(days=21, members=1, groups=3, test_rows=600, features=4)
# plotly gives each figure's div a random id: the only bytes two renders of the same
# inputs may differ in
DIV_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def year(tmp_path):
    return write_year(tmp_path / "in", YEAR)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): DIV_ID.sub(b"<id>", p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_the_index_renders_the_same_pages_with_each_report_parsed_once(year, tmp_path):
    cached, uncached = ReportIndex(year.reports), UncachedIndex(year.reports)
    render_all(replace(year, output=tmp_path / "a"), index=cached)
    render_all(replace(year, output=tmp_path / "b"), index=uncached)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    # 3 runs x (4 pages, run index, 4 SVG stills: the year's reports have no validation
    # AP), top index, shared plotly.js
    assert len([n for n in a if n.endswith(".svg")]) == 3 * 4
    assert len(a) == 3 * 9 + 2
    assert a == b
    reports = [n for n in os.listdir(year.reports) if n.startswith(("scoring-", "evaluation-"))]
    validations = [n for n in os.listdir(year.reports) if "_validation" in n]
    indexed = len(reports) + len(validations)
    # full reads: each run's 7 summaries + 1 evaluation + 1 validation report per suite
    assert cached.parses == indexed + 3 * (7 + 1 + 2)
    assert uncached.parses == 3 * indexed + 3 * (7 + 1 + 2)
    # the pages show each run its own week of summaries
    page = (tmp_path / "a" / run_name(1) / "scoring.html").read_text()
    assert "20250113T060000Z" in page and "20250106T060000Z" not in page  # job ids


def test_a_report_rewritten_during_the_render_is_read_again(year):
    index = ReportIndex(year.reports)
    path = year.reports / "scoring-20250106T060000Z.json"  # day 0: run w000's model
    assert path.name in [d["_file"] for d in load_run(year, run_name(0), index=index).scoring]
    stat = path.stat()
    doc = json.loads(path.read_text())
    doc["model_uri"] = str(year.models / run_name(2))  # the job rescored with another model
    doc["note"] = "rescored"
    path.write_text(json.dumps(doc, indent=1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time: the size tells
    assert path.name not in [d["_file"] for d in load_run(year, run_name(0), index=index).scoring]
    assert path.name in [d["_file"] for d in load_run(year, run_name(2), index=index).scoring]


def test_a_broken_scoring_report_is_named_for_each_run_it_is_checked_for(year, tmp_path):
    # it may be any run's: each run is drawn and says so (session 45: it failed each run,
    # whose pages then kept their last render's figures)
    (year.reports / "scoring-zz-broken.json").write_text("{killed while writ")
    index = ReportIndex(year.reports)
    unreadable: list[str] = []
    render_all(replace(year, output=tmp_path / "out"), index=index, unreadable=unreadable)
    assert len(unreadable) == 3 and all(
        "scoring-zz-broken.json: cannot read" in m for m in unreadable
    )
    for w in range(3):  # the indexed error, given again
        why = load_run(year, run_name(w), index=index).unreadable["scoring"]
        assert "scoring-zz-broken.json: cannot read it" in why


def test_a_broken_validation_report_hides_no_other_report_of_any_run(year, caplog):
    (year.reports / "features_validation-20250107T070000Z.json").write_text("[1, 2]")
    index = ReportIndex(year.reports)
    with caplog.at_level(logging.WARNING, logger="dashboards"):
        runs = [load_run(year, run_name(w), index=index) for w in range(3)]
    assert [len(r.validations) for r in runs] == [2, 2, 2]
    warned = [r for r in caplog.records if "skipping a validation report" in r.getMessage()]
    assert len(warned) == 3  # once per run, as when each run read the directory
    assert "expected a JSON object, found list" in warned[0].getMessage()
    for r in runs:  # and named on the pages: it may be the run's own data checks
        assert (
            "features_validation-20250107T070000Z.json: expected a JSON object"
            in (r.unreadable["validations"])
        )
