"""Text from data in the plots is drawn as written (session 23 probes).

plotly.js reads every text it draws (trace names, category ticks, bar and hover text,
titles) as its own markup: `<a href="https://...">` becomes a link, `<b>`, `<br>` and
`style=` are applied, an unknown tag vanishes. The HTML tables escape their cells; the
figures' data did not. A `fraud_pattern` of the data, a score column, a feature name or a
validation column could put a link into a dashboard page. No browser here: the figures'
JSON in the written page is checked (plotly.js decodes `&lt;` back to `<` for display).
"""

from __future__ import annotations

import json
import re

import plotly.graph_objects as go

from dashboards import render_run
from dashboards.html import figure, new_figure
from dashboards.synthetic import SyntheticRun, write_run

LINK = '<a href="https://evil.example/login">stolen_card</a>'
STYLED = '<b style="font-size:90px">x</b>'


def _figures(page: str) -> list[list[dict]]:
    """The `data` argument of every Plotly.newPlot call of a page, decoded."""
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        data, _ = decoder.raw_decode(page, match.end())
        found.append(data)
    return found


def test_a_pattern_name_from_the_data_is_not_plotly_markup(tmp_path):
    sources = write_run(tmp_path, SyntheticRun(run="r1", members=1, groups=3, scored_days=1,
                                               test_rows=600, features=4))  # fmt: skip
    path = sources.reports / "evaluation-r1-test.json"
    report = json.loads(path.read_text())
    report["pattern_recall"] = {LINK: 0.5, STYLED: 0.25, "card & co": 0.75}
    path.write_text(json.dumps(report))
    render_run(sources, "r1")
    page = (sources.output / "r1" / "model-quality.html").read_text()
    bars = [t for data in _figures(page) for t in data if t.get("type") == "bar"
            and "&lt;a href" in json.dumps(t.get("y"))]  # fmt: skip
    assert bars, "the pattern figure is missing"
    labels = bars[0]["y"]
    assert '&lt;a href="https://evil.example/login"&gt;stolen_card&lt;/a&gt;' in labels
    assert '&lt;b style="font-size:90px"&gt;x&lt;/b&gt;' in labels and "card &amp; co" in labels
    assert not any("<a " in json.dumps(data) for data in _figures(page))


def test_trace_names_ticks_and_titles_are_escaped_hover_templates_kept():
    fig = new_figure(go.Bar(x=["<i>a</i>", "b"], y=[1, 2], name="<br>n",
                            customdata=["<a href='https://x.example'>c</a>", "d"],
                            hovertemplate="%{x}<br>%{customdata}<extra></extra>"))  # fmt: skip
    fig.update_layout(title={"text": "on <b>day</b>"})
    fig.update_xaxes(title_text="feature <sup>2</sup>")
    div = figure(fig, "label")
    trace = _figures(div)[0][0]
    assert trace["x"] == ["&lt;i&gt;a&lt;/i&gt;", "b"] and trace["name"] == "&lt;br&gt;n"
    assert trace["customdata"][0] == "&lt;a href='https://x.example'&gt;c&lt;/a&gt;"
    assert trace["hovertemplate"] == "%{x}<br>%{customdata}<extra></extra>"  # ours
    assert fig.layout.title.text == "on &lt;b&gt;day&lt;/b&gt;"
    assert fig.layout.xaxis.title.text == "feature &lt;sup&gt;2&lt;/sup&gt;"
    assert list(fig.data[0].y) == [1, 2]  # numbers untouched
