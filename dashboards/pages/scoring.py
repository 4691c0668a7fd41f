"""Scoring-monitoring page (from the C3 scoring summaries of this run's model): alerts
and mean score per day, the rows scored null per day (where there are any), per-feature PSI drift of each scored date vs the training window
(most drifted first, with the threshold), score drift, and today's score distribution vs
the training window."""

from __future__ import annotations

import itertools
import math
from typing import Any

import plotly.graph_objects as go

from dashboards.html import (
    Section,
    figure,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_score,
    new_figure,
    paragraph,
    plot_text,
    style,
    subplots,
    table,
    unreadable_section,
)
from dashboards.prep.days import calendar_days, missing_days
from dashboards.prep.drift import (
    DEFAULT_THRESHOLD,
    DriftTable,
    day_limit,
    feature_drift,
    score_drift,
    shares,
)
from dashboards.sources import RunData

MAX_BARS = 40  # features shown in the latest-day bar chart (most drifted first)


def merged_dates(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every scored date once (the latest summary wins), in date order."""
    by_date: dict[str, dict[str, Any]] = {}
    for s in sorted(summaries, key=lambda s: str(s.get("created_at", ""))):
        for d in s.get("dates") or []:
            by_date[str(d["date"])] = d
    return [by_date[k] for k in sorted(by_date)]


def sections(data: RunData, psi_threshold: float = DEFAULT_THRESHOLD) -> list[Section]:
    why = data.unreadable.get("scoring")  # a summary that may be this run's model's
    broken = [unreadable_section("Scoring summaries", why)] if why else []
    return broken + _sections(data, psi_threshold) if data.scoring else broken


def _sections(data: RunData, psi_threshold: float) -> list[Section]:
    latest = max(data.scoring, key=lambda s: str(s.get("created_at", "")))
    dates = merged_dates(data.scoring)
    out = [_jobs(data.scoring)]
    if dates:
        out.append(_daily(dates, latest.get("threshold"), data.scoring))
        out += [s for s in (_null_scores(dates),) if s]
    reference = latest.get("reference") or (data.model_meta.get("scoring") or {}).get("reference")
    names = latest.get("feature_names") or data.training.get("feature_names") or []
    if reference and dates:
        drift = feature_drift(reference, dates, names, threshold=psi_threshold)
        out += [_heatmap(drift), _latest_bars(drift), _score_drift(reference, dates, psi_threshold)]
        out.append(_score_distribution(reference, dates[-1]))
    return out


def _jobs(summaries: list[dict[str, Any]]) -> Section:
    rows = []
    for s in sorted(summaries, key=lambda s: str(s.get("created_at", ""))):
        days = s.get("dates") or []
        rows.append([
            str(s.get("job_id", "")), str(s.get("created_at", "")), str(s.get("model_uri", "")),
            fmt_score(s.get("threshold")), fmt_int(len(days)),
            fmt_int(sum(int(d.get("rows") or 0) for d in days)),
            fmt_int(sum(int(d.get("alerts") or 0) for d in days)),
        ])  # fmt: skip
    headers = ["job", "created", "model", "threshold", "dates", "rows", "alerts"]
    return Section("Scoring jobs", table(headers, rows, numeric=(3, 4, 5, 6)))


def _daily(dates: list[dict[str, Any]], threshold, summaries: list[dict[str, Any]]) -> Section:
    by_day = {str(d["date"]): d for d in dates}
    windows = _windows(summaries)
    # every day from the first to the last a job scored or was asked for, in date order: a
    # day without a point was no slot at all (a job that did not run, a date not delivered)
    x = calendar_days([*by_day, *(day for w in windows for day in w)])
    shown = [by_day.get(day) or {} for day in x]
    fig = subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=x, y=[d.get("alerts") for d in shown], name="alerts",
                         marker_color="#d62728", customdata=[d.get("rows") for d in shown],
                         hovertemplate="%{x}: %{y:,} alerts of %{customdata:,} rows<extra></extra>"),
                  secondary_y=False)  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=[d.get("mean_score") for d in shown], name="mean score",
                             mode="lines+markers", line={"color": "#12355b"},
                             hovertemplate="%{x}: mean score %{y:.4f}<extra></extra>"),
                  secondary_y=True)  # fmt: skip
    style(fig, "Alerts and mean score per scored day")
    fig.update_xaxes(title_text="scored date (UTC)", type="category")
    fig.update_yaxes(title_text="alerts (count)", tickformat=",d", secondary_y=False)
    fig.update_yaxes(title_text="mean fraud score (probability)", rangemode="tozero",
                     secondary_y=True)  # fmt: skip
    rows = sum(int(d.get("rows") or 0) for d in dates)
    alerts = sum(int(d.get("alerts") or 0) for d in dates)
    note = (
        f"{fmt_int(alerts)} alerts in {fmt_int(rows)} scored transactions "
        f"({fmt_pct(alerts / rows if rows else None, 2)}) at threshold {fmt_score(threshold)}."
        + _gaps(missing_days(by_day, x), windows)
        + _late(max(summaries, key=lambda s: str(s.get("created_at", ""))).get("unscored_dates"))
    )
    return Section("Alerts and mean score", figure(fig, "alerts and mean score per day"), note)


SHOWN_DAYS = 10  # days named in a note, then a count


def _windows(summaries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (first, last) ISO day each job was asked to score (`window`, C3; none in a
    summary written before it had one)."""
    out = []
    for s in summaries:
        w = s.get("window")
        if isinstance(w, dict) and w.get("start") and w.get("end"):
            out.append((str(w["start"]), str(w["end"])))
    return out


def _gaps(missing: list[str], windows: list[tuple[str, str]]) -> str:
    """The days of the chart without a point, said in words: those inside a job's window
    held no transaction when it ran (not delivered yet, or none), the others no job of this
    model was asked to score."""
    if not missing:
        return ""
    asked = [d for d in missing if any(a <= d <= b for a, b in windows)]
    never = [d for d in missing if d not in set(asked)]
    parts = []
    if asked:
        parts.append(f"{_named(asked)} held no transaction when their job ran (not delivered "
                     "yet, or none that day)")  # fmt: skip
    if never:
        # this page reads this model's jobs only: a day another model scored (the champion
        # moved for a while) is one too, not a day "no job was run for"
        parts.append(f"{_named(never)} in no window of this model's scoring jobs (not "
                     "scored, or scored with another model)")  # fmt: skip
    return " Days without a bar: " + "; ".join(parts) + "."


def _late(unscored) -> str:
    """The scored dates whose partition received rows after their job ran, as the latest
    job found them (`unscored_dates`, C3): their bars count only the rows scored then."""
    if not isinstance(unscored, dict) or not unscored:
        return ""
    days = [
        f"{day}: {fmt_int(v.get('unscored_rows'))} of {fmt_int(v.get('canonical_rows'))} rows"
        if isinstance(v, dict) else str(day)
        for day, v in sorted(unscored.items())
    ]  # fmt: skip
    return (
        f" Rows that arrived after their date was scored have no score (score those dates "
        f"again): {_named(days)}."
    )


def _count(x) -> int:
    """A count from a summary: a whole number, else 0 (a damaged or missing value)."""
    return x if isinstance(x, int) and not isinstance(x, bool) and x > 0 else 0


def _null_scores(dates: list[dict[str, Any]]) -> Section | None:
    """The scored dates with rows scored null (`null_scores`, C3 from session 54: NaN or
    infinite features under scoring.nonfinite: null), which raise no alert; None when no
    date has any (or the summaries predate the count): no section."""
    null = [d for d in dates if _count(d.get("null_scores"))]
    if not null:
        return None
    rows = [
        [str(d["date"]), fmt_int(d.get("rows")), fmt_int(d["null_scores"]),
         fmt_pct(d["null_scores"] / d["rows"] if _count(d.get("rows")) else None, 2)]
        for d in null
    ]  # fmt: skip
    headers = ["scored date", "rows", "rows without a score", "share of the rows"]
    total = sum(d["null_scores"] for d in null)
    note = (
        f"{fmt_int(total)} row(s) on {fmt_int(len(null))} scored date(s) have NaN or infinite "
        "features and a null score (scoring.nonfinite: null): they can raise no alert and are "
        "in no mean score or score distribution, while the rows and the alert rate above "
        "count them. `invalid_features` marks them in the scores; the summary's per-feature "
        "`nonfinite` counts name the features. Fix the feature table or its input, then score "
        "those dates again."
    )
    return Section("Rows without a score", table(headers, rows, numeric=(1, 2, 3)), note)


def _named(days: list[str]) -> str:
    more = len(days) - SHOWN_DAYS
    return f"{fmt_int(len(days))} ({', '.join(days[:SHOWN_DAYS])}" + (
        f" and {fmt_int(more)} more)" if more > 0 else ")"
    )


def _on_days(dates: list[str], row: list, days: list[str]) -> list:
    """`row` (one value per scored date) on `days`: None on a day without a score."""
    at = dict(zip(dates, row, strict=True))
    return [at.get(day) for day in days]


def _heatmap(drift: DriftTable) -> Section:
    ratios = drift.ratios()
    peak = max((v for r in ratios for v in r if v is not None), default=0.0)
    days = calendar_days(drift.dates)  # a day not scored is an empty column, not skipped
    cells = [
        [[v, drift.limit(i)] for v in _on_days(drift.dates, row, days)]
        for i, row in enumerate(drift.values)
    ]  # hover: the PSI and the feature's flag level
    fig = new_figure(go.Heatmap(
        z=[_on_days(drift.dates, row, days) for row in ratios], x=days, y=drift.features,
        customdata=cells, name="PSI / flag level", hoverongaps=False,
        zmin=0, zmax=max(2.0, peak), showscale=True, showlegend=False,  # the bar is the legend
        # white to pale yellow below the flag level (1), a step to orange at it, dark red above
        colorscale=[[0.0, "#ffffff"], [1.0 / max(2.0, peak), "#fde9a9"],
                    [1.0 / max(2.0, peak), "#fd8d3c"], [1.0, "#a50026"]],
        colorbar={"title": {"text": "PSI / flag level"}},
        hovertemplate="%{y} on %{x}: PSI %{customdata[0]:.3f}, flagged above "
                      "%{customdata[1]:.3f}<extra></extra>",
    ))  # fmt: skip
    style(fig, "Feature drift per scored date: PSI over each feature's flag level, "
          "most drifted features on top", height=160 + 18 * len(drift.features))  # fmt: skip
    fig.update_xaxes(title_text="scored date (UTC)", type="category")
    fig.update_yaxes(title_text="feature", autorange="reversed", automargin=True)
    note = (
        f"PSI of each date vs the training window, per feature, divided by the feature's flag "
        f"level: {fmt_num(drift.threshold, 2)} (usually read as a significant shift), or the PSI "
        "that 9 of 10 single training days stay within against the window when that is higher. "
        "Orange and red cells (above 1) are flagged."
    )
    return Section("Feature drift over time", figure(fig, "feature drift heatmap"), note)


def _latest_bars(drift: DriftTable) -> Section:
    day = drift.dates[-1]
    triples = [(f, row[-1], drift.limit(i))
               for i, (f, row) in enumerate(zip(drift.features, drift.values, strict=True))]  # fmt: skip
    triples = sorted(triples, key=lambda p: -(p[1] if p[1] is not None else -1))
    triples = triples[:MAX_BARS][::-1]
    fig = new_figure(go.Bar(
        y=[f for f, _, _ in triples], x=[v for _, v, _ in triples], orientation="h",
        name=f"PSI on {day}", customdata=[lim for _, _, lim in triples],
        marker_color=["#d62728" if (v or 0) > lim else "#1f77b4" for _, v, lim in triples],
        hovertemplate="%{y}: PSI %{x:.3f} (flagged above %{customdata:.3f})<extra></extra>",
    ))  # fmt: skip
    raised = [(f, lim) for f, _, lim in triples if lim > drift.threshold]
    if raised:
        fig.add_trace(go.Scatter(
            y=[f for f, _ in raised], x=[lim for _, lim in raised], mode="markers",
            name="one training day vs the window (90th percentile)", marker={"symbol": "line-ns-open",
            "size": 14, "color": "#444", "line": {"width": 2}},
            hovertemplate="%{y}: 9 of 10 training days within PSI %{x:.3f} of the window<extra></extra>",
        ))  # fmt: skip
    fig.add_vline(x=drift.threshold, line_dash="dash", line_color="#444",
                  annotation_text=f"threshold {fmt_num(drift.threshold, 2)}")  # fmt: skip
    style(fig, f"Feature drift on {day}, most drifted first", height=160 + 22 * len(triples))
    fig.update_xaxes(title_text="population stability index (PSI)", rangemode="tozero")
    fig.update_yaxes(title_text="feature", automargin=True)
    over = drift.over_threshold(-1)
    note = (
        f"{fmt_int(len(over))} feature(s) drifted on {day}"
        + (f": {', '.join(over[:10])}" if over else "")
        + (f" (top {MAX_BARS} shown)" if len(drift.features) > MAX_BARS else "")
        + f". A feature is flagged when its PSI is above {fmt_num(drift.threshold, 2)} and "
        "above the PSI that 9 of 10 single days of the training window stay within against "
        "the window (the marks): a calendar feature (one weekday a day) or an encoding "
        "refreshed once a day differs from a window of many days on every day, drift or not."
    )
    return Section("Feature drift on the latest scored date", figure(fig, "latest drift"), note)


def _score_drift(reference: dict, dates: list[dict], threshold: float) -> Section:
    values = score_drift(reference, dates)
    if not reference.get("score_props"):
        return Section("Score drift", paragraph("The reference has no score distribution."))
    scored = [str(d["date"]) for d in dates]
    days = calendar_days(scored)  # a day not scored is a gap in the line, not skipped
    fig = new_figure(go.Scatter(x=days, y=_on_days(scored, values, days), mode="lines+markers",
                               name="score PSI", hovertemplate="%{x}: PSI %{y:.3f}<extra></extra>"))  # fmt: skip
    fig.add_hline(y=threshold, line_dash="dash", line_color="#444",
                  annotation_text=f"threshold {fmt_num(threshold, 2)}")  # fmt: skip
    base = day_limit(threshold, reference.get("score_day_psi"))
    if base > threshold:
        fig.add_hline(y=base, line_dash="dot", line_color="#888",
                      annotation_text=f"training days (90th percentile) {fmt_num(base, 2)}")  # fmt: skip
    style(fig, "Score distribution drift (PSI) per scored date")
    fig.update_xaxes(title_text="scored date (UTC)", type="category")
    fig.update_yaxes(title_text="population stability index (PSI)", rangemode="tozero")
    return Section("Score drift", figure(fig, "score drift per day"))


def cut_texts(edges: list[float]) -> list[str]:
    """Edges as text that tells them apart: 3 decimals when that does, else as many
    significant digits as it takes (fraud scores' deciles are often all below 0.001:
    they read "0.000 to 0.000")."""
    texts = [fmt_num(v, 3) for v in edges]
    distinct = len(set(edges))
    if len(set(texts)) == distinct and all(v == 0 or abs(v) >= 0.01 for v in edges):
        return texts
    for digits in range(3, 17):
        texts = [f"{v:.{digits}g}" for v in edges]
        if len(set(texts)) == distinct:
            break
    return texts


def bin_labels(edges: list[float], n: int) -> list[str]:
    """Names for n score bins from either n + 1 edges or n - 1 inner cut points; a first
    cut just below the next one (the reference's bin for values below the training
    minimum, fraud_app.scoring.reference) reads `< x`, and the minimum's own bin `x`."""
    if n > 2 and len(edges) == n - 1 and edges[0] == math.nextafter(edges[1], -math.inf):
        rest = bin_labels(edges[1:], n - 1)
        low = rest[0].removeprefix("≤ ")
        return [f"< {low}", low, *rest[1:]]
    e = cut_texts(edges)
    if len(e) == n + 1:
        return [f"{a} to {b}" for a, b in itertools.pairwise(e)]
    if len(e) == n - 1 and n > 1:
        return [
            f"≤ {e[0]}",
            *(f"{a} to {b}" for a, b in itertools.pairwise(e)),
            f"> {e[-1]}",
        ]
    return [f"bin {i + 1}" for i in range(n)]


def _score_distribution(reference: dict, today: dict) -> Section:
    ref = shares(reference.get("score_props") or [])
    now = shares(today.get("score_counts") or [])
    if ref is None or now is None:
        return Section("Score distribution", paragraph("No score distribution to compare."))
    labels = bin_labels(list(reference.get("score_edges") or []), len(ref))
    fig = new_figure()
    for name, y, color in (
        ("training window", ref, "#7f7f7f"),
        (f"{today['date']}", now, "#d62728"),
    ):
        fig.add_trace(go.Bar(x=labels, y=y, name=name, marker_color=color,
                             hovertemplate="%{x}: %{y:.1%}<extra>" + plot_text(name) + "</extra>"))  # fmt: skip
    style(fig, f"Score distribution on {today['date']} vs the training window")
    fig.update_xaxes(title_text="fraud score bin (training-window deciles)", type="category")
    fig.update_yaxes(title_text="share of rows (%)", tickformat=".0%")
    return Section("Score distribution: latest day vs training", figure(fig, "score distribution"))
