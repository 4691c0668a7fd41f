"""The same saved inputs give the same page bytes. Each plot's div had plotly's random
id (uuid4), so a re-render that changed nothing changed every page with a plot (a diff,
a checksum or an artifact store's de-duplication saw new pages each time); the id is
now a hash of what the div draws."""

from __future__ import annotations

import re
from dataclasses import replace

from dashboards import render_all


def _pages(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.html"))}


def test_two_renders_of_the_same_inputs_write_the_same_bytes(small_run, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    render_all(replace(small_run, output=first))
    render_all(replace(small_run, output=second))
    a, b = _pages(first), _pages(second)
    assert len(a) == 6 and a.keys() == b.keys()
    assert [name for name in a if a[name] != b[name]] == []
    page = a[next(k for k in a if k.name == "model-quality.html")].decode()
    ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', page)
    assert len(ids) == 7 and len(set(ids)) == 7  # one per plot, each its own
    assert all(page.count(i) == 3 for i in ids)  # the div, the lookup, Plotly.newPlot


def test_two_plots_of_the_same_data_and_label_on_a_page_have_distinct_ids():
    """The id is a hash of the label and what the div draws, so two such plots on one
    page had one id: plotly.js drew both into the first div and left the second empty."""
    import plotly.graph_objects as go

    from dashboards.html import Section, figure, new_figure, page, report_page

    def plot():
        return figure(new_figure(go.Scatter(x=[1, 2], y=[3, 4])), "same label")

    sections = [Section("a", plot()), Section("b", plot() + plot())]
    for text in (page("t", "r1", "training", sections, ""), report_page("t", sections, up="")):
        ids = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', text)
        assert len(ids) == 3 and len(set(ids)) == 3, ids
        assert all(text.count(f'"{i}"') == 3 for i in ids)  # the div, the lookup, newPlot
    assert page("t", "r1", "training", sections, "") == page("t", "r1", "training", sections, "")
