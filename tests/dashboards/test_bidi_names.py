"""A name holding a Unicode bidi control (U+202E RIGHT-TO-LEFT OVERRIDE, an isolate) was
written into the pages as it was: the browser drew the rest of the cell or plot label
reversed (`job-\u202eevil` read as `job-live`; "Trojan Source", CVE-2021-42574). HTML and
plot text now show such a control as its code point."""

from __future__ import annotations

import json
import re

import pandas as pd

from dashboards import render_all
from dashboards.html import esc, plot_text

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_bidi_controls_are_shown_as_code_points():
    assert esc("job-\u202eevil") == "job-\\u202eevil"
    assert plot_text("a\u2067b") == "a\\u2067b"
    assert esc("שלום مرحبا") == "שלום مرحبا"  # right-to-left text itself is untouched
    rtl = "\u200f" + "שלום مرحبا" + "\u061c"  # with its marks (RLM, ALM)
    assert plot_text(rtl) == rtl


def test_no_page_holds_a_bidi_control_from_a_name(small_run):
    hostile = "f\u202eevil\u2066x\u2069"
    for path in small_run.reports.glob("scoring-*.json"):
        doc = json.loads(path.read_text())
        old = doc["feature_names"][0]
        doc["feature_names"][0] = hostile
        for day in doc["dates"]:
            day["features"][hostile] = day["features"].pop(old)
        doc["job_id"] = hostile  # a table cell
        path.write_text(json.dumps(doc))
    path = small_run.reports / "evaluation-r1-test.json"
    doc = json.loads(path.read_text())
    doc["pattern_recall"] = {hostile: 0.5}  # a plot's category label
    path.write_text(json.dumps(doc))
    render_all(small_run)
    for page in ("scoring.html", "model-quality.html"):
        text = (small_run.output / "r1" / page).read_text()
        assert not set(BIDI) & set(text), page
        # plotly writes the figures' JSON ASCII-only, so a control in a plot label reads
        # `\u202e` in the file either way: in the script it must be `\\u202e` (the code
        # point shown), never `\u202e` (the control itself once the browser parses it)
        script = "".join(re.findall(r"<script[^>]*>(.*?)</script>", text, re.S))
        assert not _JSON_CONTROL.search(script), page
        assert "f\\\\u202eevil\\\\u2066x\\\\u2069" in script, page


# a bidi control as plotly's JSON writes it (not preceded by another backslash)
_JSON_CONTROL = re.compile(r"(?<!\\)\\u(202[a-e]|206[6-9])", re.I)


def test_the_svg_stills_hold_no_bidi_control_from_a_name(small_run):
    """The stills drew a baseline's name (a score column `baseline_<name>`) into the
    legend as it was: the SVG viewer (MLflow's artifact view) drew it reversed."""
    path = small_run.scores / "r1" / "part-00000.parquet"
    df = pd.read_parquet(path)
    df["baseline_b\u202eevil"] = df["fraud_score"] * 0.9
    df.to_parquet(path, index=False)
    render_all(small_run)
    stills = {p.name: p.read_text() for p in (small_run.output / "r1" / "plots").glob("*.svg")}
    for name in ("precision_recall.svg", "roc.svg"):
        assert not set(BIDI) & set(stills[name]), name
        assert "b\\u202eevil" in stills[name], name
