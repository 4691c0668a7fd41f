"""The days of the per-day charts as a reader takes them (session 50): in date order, with
a slot for a day without a point. The pages are parsed (no browser): the plotly figures
decoded from their `Plotly.newPlot` calls."""

from __future__ import annotations

import json
import re

from dashboards.prep.days import MAX_SPAN_DAYS, calendar_days, missing_days
from dashboards.render import render_run


def _figures(page: str) -> list[tuple[list[dict], dict]]:
    """(data, layout) of every Plotly.newPlot call of a page."""
    decoder, out = json.JSONDecoder(), []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        data, end = decoder.raw_decode(page, match.end())
        layout, _ = decoder.raw_decode(page[end:].lstrip().lstrip(",").lstrip())
        out.append((data, layout))
    return out


def _figure(page: str, title: str) -> tuple[list[dict], dict]:
    found = [f for f in _figures(page) if f[1]["title"]["text"].startswith(title)]
    assert len(found) == 1, [f[1]["title"]["text"] for f in _figures(page)]
    return found[0]


def _x_order(data: list[dict], layout: dict) -> list[str]:
    """The categories of the x axis in the order plotly.js lays them out: `categoryarray`
    first when `categoryorder` is "array", then (or else) by first appearance in the traces
    (its default, "trace")."""
    axis = layout.get("xaxis") or {}
    order = list(axis.get("categoryarray") or []) if axis.get("categoryorder") == "array" else []
    for trace in data:
        order += [x for x in trace.get("x") or [] if x not in order]
    return order


def _edit(path, change) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_card_precision_days_run_in_date_order_across_evaluations(small_run):
    """train writes evaluation-<run>-test.json and -validation.json; read in file-name
    order, the test window's days were the axis's first categories and the validation
    window's (earlier) came after them: 02-25 .. 02-29, 02-13 .. 02-17."""
    test = json.loads((small_run.reports / "evaluation-r1-test.json").read_text())
    days = [f"2024-02-{d}" for d in range(13, 18)]
    validation = {**test, "window": {"start": days[0], "end": days[-1]},
                  "card_precision_at_k": {"k": 100, "per_day": [
                      {"date": d, "precision": 0.2, "cards": 300} for d in days]}}  # fmt: skip
    (small_run.reports / "evaluation-r1-validation.json").write_text(json.dumps(validation))
    render_run(small_run, "r1")
    page = (small_run.output / "r1" / "model-quality.html").read_text(encoding="utf-8")
    data, layout = _figure(page, "Card precision@k per day")
    assert [t["name"].split(" ")[0] for t in data] == [
        "evaluation-r1-test.json", "evaluation-r1-validation.json"]  # fmt: skip
    order = _x_order(data, layout)
    assert order == sorted(order)
    # the days between the two windows are slots of their own (no point there)
    assert order == [f"2024-02-{d}" for d in range(13, 30)]


def test_scoring_days_without_rows_are_slots_named_in_the_note(small_run):
    """A day a job found no rows for (not delivered yet) and a day no job was run for
    were no slot on the category axis: 03-01, 03-02, 03-04 read as three days in a row."""
    reports = small_run.reports
    every = {d["date"]: d for j in (0, 1)
             for d in json.loads((reports / f"scoring-job{j}.json").read_text())["dates"]}  # fmt: skip
    assert sorted(every) == ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
    plan = {  # job: (dates it scored, its window)
        0: (["2024-03-01", "2024-03-02"], ("2024-03-01", "2024-03-02")),
        1: (["2024-03-04"], ("2024-03-04", "2024-03-06")),  # 03-05, 03-06 not delivered
    }
    for job, (kept, (start, end)) in plan.items():
        _edit(reports / f"scoring-job{job}.json",
              lambda doc, kept=kept, start=start, end=end: doc.update(
                  dates=[every[d] for d in kept], window={"start": start, "end": end},
                  dates_without_rows=[d for d in ("2024-03-05", "2024-03-06") if d <= end]))  # fmt: skip
    render_run(small_run, "r1")
    page = (small_run.output / "r1" / "scoring.html").read_text(encoding="utf-8")
    data, layout = _figure(page, "Alerts and mean score per scored day")
    assert _x_order(data, layout) == [f"2024-03-0{d}" for d in range(1, 7)]
    bars = dict(zip(data[0]["x"], data[0]["y"], strict=True))
    assert bars == {"2024-03-01": every["2024-03-01"]["alerts"],
                    "2024-03-02": every["2024-03-02"]["alerts"], "2024-03-03": None,
                    "2024-03-04": every["2024-03-04"]["alerts"], "2024-03-05": None,
                    "2024-03-06": None}  # fmt: skip
    # the drift charts over the scored span: a day not scored is an empty column / a gap
    days = [f"2024-03-0{d}" for d in range(1, 5)]
    heat, _ = _figure(page, "Feature drift per scored date")
    assert heat[0]["x"] == days and heat[0]["hoverongaps"] is False
    assert all(row[2] is None and None not in row[:2] + row[3:] for row in heat[0]["z"])
    line, _ = _figure(page, "Score distribution drift (PSI) per scored date")
    assert line[0]["x"] == days and line[0]["y"][2] is None
    note = re.search(r'<p class="note">([^<]*alerts in[^<]*)</p>', page).group(1)
    assert "2 (2024-03-05, 2024-03-06) held no transaction when their job ran" in note
    assert "1 (2024-03-03) in no window of this model&#x27;s scoring jobs" in note


def test_calendar_days():
    assert calendar_days(["2024-03-03", "2024-02-28", "2024-03-01", "2024-03-01"]) == [
        "2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02", "2024-03-03"]  # fmt: skip
    assert calendar_days([]) == []
    assert calendar_days(["b", "2024-01-01", "a"]) == ["2024-01-01", "a", "b"]  # not ISO: as given
    far = ["2000-01-01", "2024-01-01"]  # a span over MAX_SPAN_DAYS: the dates only
    assert MAX_SPAN_DAYS < 8_800 and calendar_days(far) == far
    assert missing_days(["2024-01-01", "2024-01-04"], ["2024-01-01", "2024-01-04"]) == [
        "2024-01-02", "2024-01-03"]  # fmt: skip


def test_scored_dates_with_rows_that_arrived_later_are_named(small_run):
    """The latest job's `unscored_dates`: dates an earlier job scored whose partition has
    received rows since; their bars count only the rows scored then, unsaid on the page."""
    late = {"2024-03-02": {"canonical_rows": 512, "scored_rows": 500, "unscored_rows": 12}}
    _edit(small_run.reports / "scoring-job1.json", lambda doc: doc.update(unscored_dates=late))
    render_run(small_run, "r1")
    page = (small_run.output / "r1" / "scoring.html").read_text(encoding="utf-8")
    note = re.search(r'<p class="note">([^<]*alerts in[^<]*)</p>', page).group(1)
    assert note.endswith(
        "Rows that arrived after their date was scored have no score (score those dates "
        "again): 1 (2024-03-02: 12 of 512 rows)."
    )
