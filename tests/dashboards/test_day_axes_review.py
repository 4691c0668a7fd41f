"""The day axes of session 50 as a reviewer tried them (session 50 review): a date of a
report in another spelling than `YYYY-MM-DD`, and a date holding markup, on the axes that
list every day of their span. The pages are parsed (no browser): the plotly figures
decoded from their `Plotly.newPlot` calls."""

from __future__ import annotations

import json
import re

from dashboards.prep.days import calendar_days
from dashboards.render import render_run
from tests.dashboards.test_day_axes import _edit, _figure, _x_order

LINK = '<a href="https://evil.example/">click</a>'


def _strings(value, key=""):
    """(key, text) of every string of a decoded figure, hover and text templates left out
    (the package's own, with their `<extra>` markup)."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in ("hovertemplate", "texttemplate"):
                yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)


def test_a_date_with_markup_is_escaped_in_the_axis_order_too(small_run):
    """The card precision chart lists its days in the layout (`categoryarray`), which
    `plain_labels` did not escape: a per-day date holding `<a href=...>` was a link on the
    axis (plotly.js draws category labels as its markup), beside the escaped text of the
    trace's x, so that day was two categories."""
    test = json.loads((small_run.reports / "evaluation-r1-test.json").read_text())
    per_day = [{"date": d, "precision": 0.2, "cards": 300} for d in (LINK, "2024-02-14")]
    validation = {**test, "card_precision_at_k": {"k": 100, "per_day": per_day}}
    (small_run.reports / "evaluation-r1-validation.json").write_text(json.dumps(validation))
    render_run(small_run, "r1")
    page = (small_run.output / "r1" / "model-quality.html").read_text(encoding="utf-8")
    data, layout = _figure(page, "Card precision@k per day")
    raw = [(k, s) for k, s in _strings([data, layout]) if "<" in s or ">" in s]
    assert raw == []
    order = _x_order(data, layout)
    assert len(order) == len(set(order)) == len(layout["xaxis"]["categoryarray"])
    assert "&lt;a href=" in " ".join(order)


def test_a_date_in_another_iso_spelling_keeps_its_bar(small_run):
    """`date.fromisoformat` takes `20240301` (and `2024-W10-1`): the axis listed it as
    `2024-03-01`, a day no summary has, so that date's bar and mean score were left out
    of the chart and the note called it a day without a bar."""
    assert calendar_days(["20240301", "2024-03-02"]) == ["2024-03-02", "20240301"]
    assert calendar_days(["2024-W10-1"]) == ["2024-W10-1"]
    assert calendar_days(["2024-03-02", "2024-03-04"])[1] == "2024-03-03"  # ISO: as before
    reports = small_run.reports
    first = json.loads((reports / "scoring-job0.json").read_text())["dates"][0]
    _edit(reports / "scoring-job0.json",
          lambda doc: doc["dates"][0].update(date=first["date"].replace("-", "")))  # fmt: skip
    render_run(small_run, "r1")
    page = (small_run.output / "r1" / "scoring.html").read_text(encoding="utf-8")
    data, _ = _figure(page, "Alerts and mean score per scored day")
    bars = dict(zip(data[0]["x"], data[0]["y"], strict=True))
    assert bars[first["date"].replace("-", "")] == first["alerts"]


def test_a_day_another_model_scored_is_not_called_a_day_no_job_ran_for(small_run):
    """A run's page reads the scoring summaries of its own model only: a day scored while
    another model was the champion was named `in no scoring job's window (no job was run
    for them)`, sending the reader to look for a scheduler that did not run."""
    reports = small_run.reports
    job0 = json.loads((reports / "scoring-job0.json").read_text())
    other = {**job0, "job_id": "other", "model_uri": "models:/fraud/9", "model_name": "fraud",
             "model_version": 9, "window": {"start": "2024-03-03", "end": "2024-03-03"},
             "dates": [{**job0["dates"][0], "date": "2024-03-03"}]}  # fmt: skip
    (reports / "scoring-other.json").write_text(json.dumps(other))
    _edit(reports / "scoring-job1.json",
          lambda doc: doc.update(dates=[d for d in doc["dates"] if d["date"] != "2024-03-03"]))  # fmt: skip
    render_run(small_run, "r1")
    page = (small_run.output / "r1" / "scoring.html").read_text(encoding="utf-8")
    note = re.search(r'<p class="note">([^<]*alerts in[^<]*)</p>', page).group(1)
    assert "1 (2024-03-03) in no window of this model&#x27;s scoring jobs" in note
    assert "or scored with another model" in note and "no job was run" not in note
