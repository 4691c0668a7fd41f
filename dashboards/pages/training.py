"""Training page: loss and validation AP per epoch per member, where each group's wall
time went (compute / all-reduce / scheduling, stacked), samples/s on the time line with
stage starts and retries marked, and a per-member summary table."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboards.html import (
    COLORS,
    Section,
    figure,
    fmt_int,
    fmt_pct,
    fmt_seconds,
    new_figure,
    style,
    subplots,
    table,
)
from dashboards.prep.training import (
    failed_groups,
    group_times,
    member_x,
    time_split_shares,
    validation_points,
)
from dashboards.sources import RunData

PARTS = (  # GroupTime attribute, legend name, colour
    ("compute_s", "compute", "#1f77b4"),
    ("allreduce_s", "all-reduce", "#ff7f0e"),
    ("scheduling_s", "scheduling", "#7f7f7f"),
    ("other_s", "other (data, optimizer, reporting)", "#c7c7c7"),
)


def sections(data: RunData) -> list[Section]:
    members = data.training.get("members") or []
    if not members:
        return []
    out = [_summary(data.training, members), _loss(members)]
    if any(m.get("validation") for m in members):
        out.append(_validation(members))
    if any(g.split for m in members for g in group_times(m.get("history") or [])):
        out.append(_time_split(members))  # none split (per-iteration engine): no chart of 0 %
    if any(m.get("history") for m in members):
        out.append(_timeline(members))
    return out


def _summary(training: dict, members: list[dict]) -> Section:
    rows = []
    for i, m in enumerate(members):
        hist = m.get("history") or []
        shares = time_split_shares(hist) or {}
        wall = sum(g.wall_s for g in group_times(hist))
        rows.append([
            f"member {i:02d}", fmt_int(m.get("rows")), fmt_int(m.get("iterations")),
            fmt_int(len(hist)), fmt_int(m.get("retries", 0)), fmt_seconds(wall),
            fmt_pct(shares.get("compute")), fmt_pct(shares.get("allreduce")),
            fmt_pct(shares.get("scheduling")), fmt_int(m.get("best_iteration")),
        ])  # fmt: skip
    headers = ["member", "rows", "iterations", "groups", "retries", "wall time",
               "compute", "all-reduce", "scheduling", "best iteration"]  # fmt: skip
    note = (
        f"Training took {fmt_seconds(training.get('training_seconds'))} "
        f"(whole step {fmt_seconds(training.get('total_seconds'))}); shares are of each "
        "member's wall time."
    )
    return Section("Ensemble members", table(headers, rows, numeric=range(1, 10)), note)


def _loss(members: list[dict]) -> Section:
    fig, axis = new_figure(), "epoch"
    for i, m in enumerate(members):
        x, axis = member_x(m)
        y = [h.get("loss") for h in m.get("history") or []]
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name=f"member {i:02d}", marker={"size": 4},
            hovertemplate="%{x:.2f} " + axis + "<br>loss %{y:.4f}<extra>member " + f"{i:02d}</extra>",
        ))  # fmt: skip
    style(fig, "Training loss per member (mean over each group)")
    fig.update_xaxes(title_text=f"{axis}s completed" if axis == "epoch" else "iteration")
    fig.update_yaxes(title_text="loss (mean per example)", tickformat=".3f")
    return Section("Loss", figure(fig, "training loss per member"))


def _validation(members: list[dict]) -> Section:
    fig = new_figure()
    for i, m in enumerate(members):
        x, y = validation_points(m)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=f"member {i:02d}"))
    style(fig, "Validation average precision per epoch")
    fig.update_xaxes(title_text="epochs completed")  # the loss chart's scale (member_x)
    fig.update_yaxes(title_text="average precision (%)", tickformat=".0%", rangemode="tozero")
    return Section("Validation average precision", figure(fig, "validation AP per member"))


def _time_split(members: list[dict]) -> Section:
    n = len(members)
    fig = subplots(
        rows=n, cols=1, vertical_spacing=min(0.08, 0.3 / n),
        subplot_titles=[f"member {i:02d}" for i in range(n)],
    )  # fmt: skip
    shapes = []
    for i, m in enumerate(members):
        groups = group_times(m.get("history") or [])
        x = [g.group for g in groups]
        fig.add_traces(
            [
                go.Bar(
                    x=x, y=[getattr(g, attr) for g in groups], name=name, marker_color=color,
                    legendgroup=name, showlegend=i == 0,
                    hovertemplate="group %{x}<br>" + name + " %{y:.3f} s<extra></extra>",
                )
                for attr, name, color in PARTS
            ],
            rows=i + 1, cols=1,
        )  # fmt: skip
        stages = [g.group for g in groups if g.stage_start and g.group > 0]
        shapes += _vlines(i, stages, {"dash": "dot", "color": "#444", "width": 1})
        shapes += _vlines(i, failed_groups(m), {"color": "#d62728", "width": 2})
        fig.update_yaxes(title_text="seconds", row=i + 1, col=1)
    # one layout update for all boundary lines (add_vline re-validates every shape each call)
    fig.update_layout(shapes=shapes)
    fig.update_layout(barmode="stack")
    style(
        fig,
        "Wall time per group: compute, all-reduce and scheduling",
        height=150 + 170 * n,
        legend_gap_px=24,
    )
    fig.update_xaxes(title_text="group", row=n, col=1)
    note = (
        "Dotted lines: a new Spark barrier stage starts (group boundary at a stage boundary); "
        "red lines: a stage failed and training resumed from that group (a retry)."
    )
    return Section("Where the time goes", figure(fig, "wall time per group, stacked"), note)


def _vlines(row: int, groups: list[int], line: dict) -> list[dict]:
    """Vertical lines before `groups` in subplot `row` (0-based), spanning its height."""
    axis = "" if row == 0 else str(row + 1)
    return [
        {"type": "line", "x0": g - 0.5, "x1": g - 0.5, "xref": f"x{axis}",
         "y0": 0, "y1": 1, "yref": f"y{axis} domain", "line": line}
        for g in groups
    ]  # fmt: skip


def _timeline(members: list[dict]) -> Section:
    fig = new_figure()
    for i, m in enumerate(members):
        groups, color = group_times(m.get("history") or []), COLORS[i % len(COLORS)]
        ends = [g.start_s + g.wall_s for g in groups]
        fig.add_trace(go.Scatter(
            x=ends, y=[g.samples_per_s for g in groups], mode="lines", name=f"member {i:02d}",
            line={"color": color}, customdata=[g.group for g in groups],
            hovertemplate="%{x:,.1f} s, group %{customdata}<br>%{y:,.0f} samples/s<extra></extra>",
        ))  # fmt: skip
        starts = [g for g in groups if g.stage_start]
        fig.add_trace(_markers(starts, "diamond", color, "stage start", first=i == 0))
        failed = set(failed_groups(m))
        retried = [g for g in groups if g.group in failed]
        fig.add_trace(_markers(retried, "x", "#d62728", "retry / recovery", first=True))
    style(fig, "Throughput on the time line (stage starts and retries marked)")
    fig.update_xaxes(title_text="seconds since the member's training started", tickformat=",.2~f")
    fig.update_yaxes(title_text="samples per second", tickformat=",.0f", rangemode="tozero")
    retries = sum(int(m.get("retries") or 0) for m in members)
    note = f"{fmt_int(retries)} retries in all. Each point is the end of one group."
    return Section("Throughput and time line", figure(fig, "samples per second over time"), note)


def _markers(groups, symbol: str, color: str, name: str, *, first: bool) -> go.Scatter:
    """Markers at group starts; one legend entry per kind (the legend group), coloured
    by member."""
    return go.Scatter(
        x=[g.start_s for g in groups], y=[g.samples_per_s for g in groups], mode="markers",
        name=name, legendgroup=name, marker={"symbol": symbol, "size": 10, "color": color},
        showlegend=first and bool(groups), hovertemplate=name + " at %{x:,.1f} s<extra></extra>",
    )  # fmt: skip
