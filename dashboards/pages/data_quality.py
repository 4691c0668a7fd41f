"""Data-quality page: validation results per expectation with severity, quarantine counts
by reason and a sample of rejected rows, rows per workflow step, and transactions and
label rate per day."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboards.html import (
    Section,
    figure,
    fmt_int,
    fmt_pct,
    new_figure,
    paragraph,
    style,
    subplots,
    table,
    unreadable_section,
)
from dashboards.prep.data import daily_stats, rows_per_step
from dashboards.sources import RunData

MAX_CELL = 60  # characters shown per sample cell


UNREADABLE = {  # RunData.unreadable key -> the sections that read it
    "validations": "Data checks",
    "etl": "ETL report (quarantine, rows per step)",
    "features": "Feature table report (rows per step)",
}


def sections(data: RunData) -> list[Section]:
    out = [_validation(v) for v in data.validations]
    out += [unreadable_section(t, data.unreadable[k]) for k, t in UNREADABLE.items()
            if k in data.unreadable]  # fmt: skip
    if data.etl and data.etl.get("quarantine_by_reason") is not None:
        out.append(_quarantine(data.etl, data.quarantine_sample, data.unreadable.get("quarantine")))
    elif "quarantine" in data.unreadable:
        out.append(unreadable_section("Quarantine", data.unreadable["quarantine"]))
    steps = rows_per_step(
        data.etl, data.feature_rows, data.training.get("splits"), data.training.get("balancing")
    )
    if steps:
        out.append(_steps(steps))
    if data.canonical_days is not None and not data.canonical_days.empty:
        out.append(_daily(data.canonical_days))
    elif "canonical" in data.unreadable:
        out.append(
            unreadable_section("Transactions and label rate per day", data.unreadable["canonical"])
        )
    return out


def _validation(report: dict) -> Section:
    results = report.get("results") or []
    rows, classes = [], []
    for r in results:
        ok = bool(r.get("success"))
        unexpected = r.get("unexpected_count")
        detail = r.get("error") or (
            f"{fmt_int(unexpected)} rows{_share(r.get('unexpected_percent'))}"
            if unexpected is not None
            else ""
        )
        rows.append([
            str(r.get("name", "")), str(r.get("column") or "table"),
            str(r.get("expectation", "")), str(r.get("severity", "")),
            "pass" if ok else "FAIL", _short(r.get("observed")), detail,
        ])  # fmt: skip
        classes.append("good" if ok else ("bad" if r.get("severity") == "error" else "warn"))
    failed = [i for i, c in enumerate(classes) if c != "good"]
    passed = [i for i, c in enumerate(classes) if c == "good"]
    failed.sort(key=lambda i: classes[i] != "bad")  # errors, then warnings
    errors = sum(c == "bad" for c in classes)
    warnings = sum(c == "warn" for c in classes)
    note = (
        f"{report.get('table', '')}, checked at {report.get('checked_at', '?')}: "
        f"{fmt_int(len(results))} checks, {fmt_int(errors)} failed errors, "
        f"{fmt_int(warnings)} failed warnings."
        + (f" Report: {report['_file']}." if report.get("_file") else "")
    )
    headers = ["check", "column", "expectation", "severity", "result", "observed", "unexpected"]
    body = ""
    if failed:
        body += table(headers, [rows[i] for i in failed], row_classes=[classes[i] for i in failed])
    if passed:
        body += (
            f"<details><summary>{fmt_int(len(passed))} passing checks</summary>"
            + table(headers, [rows[i] for i in passed], row_classes=["good"] * len(passed))
            + "</details>"
        )
    status = "passed" if errors == 0 else "FAILED"
    return Section(f"Validation: {report.get('suite', '?')} suite {status}", body, note)


def _share(percent) -> str:
    """` (x.xx%)` of a check's unexpected rows; nothing where the check has no share (null:
    no non-null row to count, e.g. an empty or all-null column), which read `(0.00%)`."""
    if isinstance(percent, bool) or not isinstance(percent, int | float) or percent != percent:
        return ""
    return f" ({fmt_pct(percent / 100, 2)})"


def _short(value) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _quarantine(etl: dict, sample: pd.DataFrame | None, error: str | None = None) -> Section:
    reasons = sorted(etl["quarantine_by_reason"].items(), key=lambda kv: kv[1])
    fig = new_figure(go.Bar(
        y=[r for r, _ in reasons], x=[n for _, n in reasons], orientation="h", name="quarantined rows",
        marker_color="#d62728", texttemplate="%{x:,}", hovertemplate="%{y}: %{x:,} rows<extra></extra>",
    ))  # fmt: skip
    style(fig, "Quarantined rows by reason", height=160 + 32 * max(len(reasons), 1))
    fig.update_xaxes(title_text="rows (count)", tickformat=",d", rangemode="tozero")
    fig.update_yaxes(title_text="reason", automargin=True)
    note = (
        f"{fmt_int(etl.get('quarantine_rows'))} of {fmt_int(etl.get('input_rows'))} input rows "
        f"({fmt_pct((etl.get('quarantine_rows') or 0) / max(etl.get('input_rows') or 1, 1), 2)}) "
        f"were quarantined; {fmt_int(etl.get('duplicate_rows'))} duplicates were dropped."
    )
    body = figure(fig, "quarantined rows by reason")
    if sample is not None and not sample.empty:
        body += f"<h3>Sample of rejected rows ({fmt_int(len(sample))})</h3>" + _sample(sample)
    elif error is not None:
        body += "<h3>Sample of rejected rows</h3>" + paragraph(f"Not drawn: {error}")
    return Section("Quarantine", body, note)


def _sample(sample: pd.DataFrame) -> str:
    """Reason, detail and the row's original values as `column=value` text (wraps, so
    a wide raw schema never needs horizontal scrolling)."""
    keys = [c for c in ("reason", "reason_detail") if c in sample.columns]
    rows = [
        [*(_short(rec[k]) for k in keys),
         "; ".join(f"{c}={_short(rec[c])}" for c in sample.columns if c not in keys)]
        for rec in sample.to_dict("records")
    ]  # fmt: skip
    # reason / detail keep whole words (a reason is one identifier, cut mid-word before)
    return table([*keys, "original values"], rows, words=range(len(keys)))


def _steps(steps) -> Section:
    names = [s.name for s in steps][::-1]
    rows = [s.rows for s in steps][::-1]
    fig = new_figure(go.Bar(
        y=names, x=rows, orientation="h", marker_color="#12355b", texttemplate="%{x:,}", name="rows",
        customdata=[s.note for s in steps][::-1],
        hovertemplate="%{y}: %{x:,} rows %{customdata}<extra></extra>",
    ))  # fmt: skip
    style(fig, "Rows per step: raw input to balanced subsets", height=160 + 30 * len(steps))
    fig.update_xaxes(title_text="rows (count)", tickformat=",d", rangemode="tozero")
    fig.update_yaxes(title_text="step", automargin=True)
    cells = [[s.name, fmt_int(s.rows), s.note] for s in steps]
    body = figure(fig, "rows per step") + table(["step", "rows", "note"], cells, numeric=(1,))
    return Section("Rows per step", body)


def _daily(days: pd.DataFrame) -> Section:
    d = daily_stats(days["event_date"].astype(str).to_numpy(), days["label"])
    fig = subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=d.dates, y=d.transactions, name="transactions", marker_color="#9ecae1",
                         hovertemplate="%{x}: %{y:,} transactions<extra></extra>"),
                  secondary_y=False)  # fmt: skip
    fig.add_trace(go.Scatter(x=d.dates, y=d.label_rate, name="label rate (fraud share)",
                             mode="lines+markers", line={"color": "#d62728"},
                             hovertemplate="%{x}: %{y:.2%} fraud<extra></extra>"),
                  secondary_y=True)  # fmt: skip
    style(fig, "Transactions and label rate per day (canonical table)")
    fig.update_xaxes(title_text="date (UTC)")
    fig.update_yaxes(title_text="transactions per day (count)", tickformat=",d", secondary_y=False)
    fig.update_yaxes(title_text="label rate (%)", tickformat=".1%", rangemode="tozero",
                     secondary_y=True)  # fmt: skip
    note = (
        f"{fmt_int(sum(d.transactions))} transactions over {fmt_int(len(d.dates))} days; "
        "the label rate counts only labels known when the data was loaded."
    )
    return Section(
        "Transactions and label rate per day", figure(fig, "rows and label rate per day"), note
    )
