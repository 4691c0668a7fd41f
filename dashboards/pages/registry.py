"""The model-quality page's registry section: the promotion gate's decision, both average
precisions and the window they were compared on."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go

from dashboards.html import Section, figure, fmt_num, new_figure, style, table


def _compared_on(window: dict, training: dict) -> str:
    """The gate's window as its first and last day. The gate records its bounds' dates,
    [start, end): `end` is the validation window's end, midnight after its last day, so the
    page said `2024-02-13 to 2024-02-18` beside the same window's headline row
    `2024-02-13 to 2024-02-17`. The last day is the one before the end's instant (as
    train's evaluation files count it: a noon end keeps its date); the gate records that
    day as `last_day` since the session 50 review."""
    start, end = window.get("start") or "?", window.get("end")
    if window.get("last_day"):  # the gate's own (session 50 review on)
        return f"{start} to {window['last_day']}"
    if not end:
        return f"{start} to ?"
    moment = training
    for key in ("splits", "windows", "validation", "end"):  # train's instant of that end
        moment = moment.get(key) if isinstance(moment, dict) else None
    try:
        bound = dt.datetime.fromisoformat(str(moment))
    except ValueError:
        bound = None
    if bound is not None and bound.date().isoformat() == str(end):
        return f"{start} to {(bound - dt.timedelta(microseconds=1)).date().isoformat()}"
    return f"{start} up to the window's end on {end} (that instant not included)"


def registry_section(reg: dict | None, training: dict | None = None) -> Section | None:
    """The registry decision of the run's model (the training report's `registry`)."""
    if not reg:
        return None
    window = reg.get("window") or {}
    cells = [
        ["decision", str(reg.get("decision", "-"))],
        ["model", f"{reg.get('name', '-')} version {reg.get('version', '-')}"],
        ["new model average precision", fmt_num(reg.get("new_ap"), 4)],
        ["champion average precision", fmt_num(reg.get("champion_ap"), 4)],
        ["champion version", str(reg.get("champion_version") or "none")],
        ["required margin", fmt_num(reg.get("margin"), 4)],
        ["compared on (UTC days)", _compared_on(window, training or {})],
    ]
    fig = new_figure(go.Bar(
        x=["new model", "champion"], y=[reg.get("new_ap"), reg.get("champion_ap")],
        marker_color=["#12355b", "#7f7f7f"], texttemplate="%{y:.3f}", name="average precision",
    ))  # fmt: skip
    style(fig, "Average precision: new model vs champion", height=320)
    fig.update_yaxes(title_text="average precision", rangemode="tozero")
    fig.update_xaxes(title_text="model")
    body = table(["", "value"], cells) + figure(fig, "new model vs champion")
    return Section(f"Registry decision: {reg.get('decision', '-')}", body)
