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
