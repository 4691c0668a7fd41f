"""What session 54 counted and the pages did not show: a scoring summary's `null_scores`
per date (rows with NaN or infinite features scored null under scoring.nonfinite: null,
never alerted) and an evaluation's `unlabelled_rows` (left out of every figure). The
scoring page drew the null-scored rows among its rows and alert rate without a word; the
model-quality page read an evaluation of the labelled rows only as the window's own."""

from __future__ import annotations

import json
import re

from dashboards.render import render_run


def _edit(path, change) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def _set_null_scores(counts: dict[str, int]):
    def change(doc):
        for d in doc["dates"]:
            d["null_scores"] = counts.get(d["date"], 0)

    return change


def _page(src, name: str) -> str:
    render_run(src, "r1")
    return (src.output / "r1" / name).read_text(encoding="utf-8")


def _section(page: str, title: str) -> str:
    found = re.findall(rf"<section><h2>{re.escape(title)}</h2>(.*?)</section>", page, re.S)
    assert len(found) == 1, re.findall(r"<h2>(.*?)</h2>", page)
    return found[0]


def test_rows_scored_null_are_shown_per_date_on_the_scoring_page(small_run):
    job0 = small_run.reports / "scoring-job0.json"
    dates = json.loads(job0.read_text())["dates"]
    first, second = dates[0], dates[1]
    _edit(job0, _set_null_scores({first["date"]: 37}))  # the second date: 0, not listed
    page = _page(small_run, "scoring.html")
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles[:3] == ["Scoring jobs", "Alerts and mean score", "Rows without a score"]
    section = _section(page, "Rows without a score")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", section)
    share = f"{37 / first['rows'] * 100:.2f}%"
    assert cells == [first["date"], f"{first['rows']:,}", "37", share]
    assert second["date"] not in section
    assert "37 row(s) on 1 scored date(s) have NaN or infinite features" in section
    assert "they can raise no alert" in section


def test_a_summary_without_null_scores_adds_no_section(small_run):
    # a summary of session 54 on (null_scores 0 on every date) and one before it (no key)
    _edit(small_run.reports / "scoring-job0.json", _set_null_scores({}))
    page = _page(small_run, "scoring.html")
    assert "Rows without a score" not in page and "null score" not in page
    assert re.findall(r"<h2>(.*?)</h2>", page)[:3] == [
        "Scoring jobs", "Alerts and mean score", "Feature drift over time"]  # fmt: skip


def test_the_unlabelled_rows_of_an_evaluation_are_said_with_its_figures(small_run):
    path = small_run.reports / "evaluation-r1-test.json"
    _edit(path, lambda doc: doc.update(unlabelled_rows=360))
    section = _section(_page(small_run, "model-quality.html"), "Headline figures")
    assert "(labelled rows only: 360 unlabelled left out)" in section
    assert (
        "Rows without a label yet (label null) are in no figure of evaluation-r1-test.json "
        "(360 rows): every figure of it (transactions, frauds, ROC AUC" in section
    )
    assert "rests on the labelled rows only" in section


def test_an_evaluation_without_unlabelled_rows_says_nothing_of_them(small_run):
    path = small_run.reports / "evaluation-r1-test.json"
    for doc_change in ({}, {"unlabelled_rows": 0}):  # a report before session 54, one after
        _edit(path, lambda doc, c=doc_change: doc.update(c))
        section = _section(_page(small_run, "model-quality.html"), "Headline figures")
        assert "unlabelled" not in section and "without a label" not in section
        assert '<p class="note">' not in section
