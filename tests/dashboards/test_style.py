"""The house style leaves room for a legend of several rows: a PR curve's eight entries
(ensemble, two baselines, five members) grew upwards over the figure's title."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboards.html import LEGEND_ROW_PX, legend_rows, style


def _figure(names: list[str]) -> go.Figure:
    fig = go.Figure()
    for name in names:
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name=name))
    return fig


def test_a_legend_of_several_rows_gets_their_room_above_the_plot():
    few = style(_figure(["precision", "recall"]), "t", height=440)
    many_names = [f"member {i:02d} (AP 0.834)" for i in range(5)]
    many_names += ["ensemble (AP 0.851)", "baseline gbt (AP 0.676)", "baseline logreg (AP 0.559)"]
    many = style(_figure(many_names), "t", height=440)
    rows = legend_rows(many)
    assert legend_rows(few) == 1 and rows >= 2
    extra = LEGEND_ROW_PX * (rows - 1)
    assert many.layout.margin.t == few.layout.margin.t + extra
    assert many.layout.height == 440 + extra  # the plot keeps its height
    # the title sits at the figure's top edge, above the legend's top
    title = many.layout.title
    assert (title.yref, title.yanchor) == ("container", "top")
    assert title.y * many.layout.height > many.layout.height - many.layout.margin.t + rows * 20


def test_entries_hidden_from_the_legend_take_no_room():
    fig = _figure([f"a long legend entry number {i}" for i in range(12)])
    for trace in fig.data[1:]:
        trace.showlegend = False
    assert legend_rows(fig) == 1


def test_a_secondary_axis_gets_round_ticks_of_its_own():
    # plotly.js 4 syncs an overlaying axis's ticks to the primary grid (0.00357, 0.00714 ...
    # on the mean score axis); the secondary axis asks for its own ticks and draws no grid
    from dashboards.html import subplots

    fig = subplots(specs=[[{"secondary_y": True}]])
    assert fig.layout.yaxis2.overlaying == "y"
    assert (fig.layout.yaxis2.tickmode, fig.layout.yaxis2.showgrid) == ("auto", False)
    assert fig.layout.yaxis.tickmode is None and fig.layout.yaxis.showgrid is None
