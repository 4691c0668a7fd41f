"""Model-quality page: headline metrics per window, PR and ROC curves (ensemble vs
members vs baselines), score distributions by class, the threshold table and plot around
the configured alert budget, card precision@k per day, recall per fraud pattern and the
registry decision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
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
    table,
    unreadable_section,
)
from dashboards.pages.registry import registry_section
from dashboards.prep.days import calendar_days
from dashboards.prep.metrics import (
    budgets_around,
    card_precision_at_k,
    pr_curve,
    roc_curve,
    score_histogram,
    threshold_table,
)
from dashboards.sources import RunData


@dataclass(frozen=True)
class QualityOptions:
    alert_budget: float = 0.01  # used when the model's metadata has none (C2)
    card_k: int = 100


def sections(data: RunData, options: QualityOptions) -> list[Section]:
    registry = registry_section(data.training.get("registry"), data.training)
    out = [s for s in (_metrics(data), registry) if s]
    scores = data.scores
    if scores is not None and {"label", "fraud_score"} <= set(scores.columns):
        scores = scores[scores["label"].notna()]
        budget = _budget(data, options)
        if "score_columns" in data.unreadable:  # a member or baseline without finite scores
            out.append(unreadable_section("Curves left out", data.unreadable["score_columns"]))
        out += [_curves(scores, "pr"), _curves(scores, "roc"), _histogram(scores)]
        out += [_threshold(scores, budget), *_card_precision(scores, data, options.card_k)]
    else:
        if "scores" in data.unreadable:  # the curves, histogram and threshold table read them
            out.append(unreadable_section("Test-window scores", data.unreadable["scores"]))
        elif "scores" in data.absent:  # they were left out with no word
            out.append(Section("Test-window scores", paragraph(
                f"None at {data.absent['scores']}: the curves, score distributions and "
                "threshold table read them (`fraud-app train` writes them)."
            )))  # fmt: skip
        out += _card_precision(None, data, options.card_k) or []
    out += [s for s in (_evaluation_budgets(data), _patterns(data)) if s]
    if "evaluations" in data.unreadable:  # the headline rows, budgets, patterns read them
        out.append(unreadable_section("Saved evaluations", data.unreadable["evaluations"]))
    return out


def _budget(data: RunData, options: QualityOptions) -> float:
    return float((data.model_meta.get("scoring") or {}).get("alert_budget") or options.alert_budget)


BEFORE_REFIT = " (before the refit)"  # the early-stopped ensemble's figures, not the saved model's


def _before_refit(evaluation: dict, run: str, refit: bool) -> bool:
    """Whether an evaluation file holds figures of the ensemble before the refit: its
    `before_refit`, else (a file written before session 27, without the key) whether it is
    train's own validation file of a refit run, which held those figures then too."""
    if "before_refit" in evaluation:
        return evaluation["before_refit"] is True
    return refit and evaluation.get("_file") == f"evaluation-{run}-validation.json"


def _trained_on(evaluation: dict) -> str:
    """What an `evaluate` report's headline row adds: `trained_on` (optimistic figures read
    like a test window's), `days_without_rows` (the window named is not the data) and
    `unlabelled_rows` (the figures are the labelled rows')."""
    seen, out = evaluation.get("trained_on"), ""
    if isinstance(seen, dict) and seen.get("first") and seen.get("last"):
        out += (
            f" (optimistic: the model may have trained on {fmt_int(seen.get('days'))} of its "
            f"days, {seen['first']} to {seen['last']})"
        )
    elif isinstance(seen, dict):
        out += " (optimistic? whether the model trained on these days is not known)"
    empty = evaluation.get("days_without_rows")
    if isinstance(empty, int) and not isinstance(empty, bool) and empty > 0:
        out += f" ({fmt_int(empty)} of its days without rows)"
    if _unlabelled(evaluation):  # the figures are the labelled rows' (the note says more)
        out += f" (labelled rows only: {fmt_int(_unlabelled(evaluation))} unlabelled left out)"
    return out


def _metrics(data: RunData) -> Section | None:
    refit = bool(data.training.get("refit"))  # a training report's validation figures: before it
    rows = [
        (name + (BEFORE_REFIT if refit and name == "validation" else ""), m)
        for name, m in (data.training.get("metrics") or {}).items()
    ] + [
        (f"{e.get('_file', 'evaluation')} ({(e.get('window') or {}).get('start', '?')} to "
         f"{(e.get('window') or {}).get('end', '?')})"
         f"{BEFORE_REFIT if _before_refit(e, data.run, refit) else ''}{_trained_on(e)}", e)
        for e in data.evaluations
    ]  # fmt: skip
    if not rows:
        return None
    cells = [
        [name, fmt_int(m.get("rows")), fmt_int(m.get("frauds")), fmt_num(m.get("roc_auc"), 4),
         fmt_num(m.get("average_precision"), 4)]
        for name, m in rows
    ]  # fmt: skip
    headers = ["window", "transactions", "frauds", "ROC AUC", "average precision"]
    body = table(headers, cells, numeric=(1, 2, 3, 4))
    return Section("Headline figures", body, _unlabelled_note(data.evaluations))


def _unlabelled(evaluation: dict) -> int:
    """An `evaluate` report's rows without a label yet (`unlabelled_rows`, session 54),
    left out of its figures; 0 without any or in a report written before the count."""
    n = evaluation.get("unlabelled_rows")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0


def _unlabelled_note(evaluations: list[dict]) -> str:
    """The headline note naming each evaluation whose window held unlabelled rows: its
    figures, its transactions and frauds too, are those of the labelled rows only ("" when
    none had any)."""
    said = [f"{e.get('_file', 'evaluation')} ({fmt_int(_unlabelled(e))} rows)"
            for e in evaluations if _unlabelled(e)]  # fmt: skip
    if not said:
        return ""
    them = "it" if len(said) == 1 else "each"
    return (
        f"Rows without a label yet (label null) are in no figure of {'; '.join(said)}: "
        f"every figure of {them} (transactions, frauds, ROC AUC, average precision, alert "
        "budgets, card precision@k, recall per pattern) rests on the labelled rows only. "
        "Labels do not arrive at random (chargebacks come before normals settle), so these "
        "may differ from the window's own: evaluate a window whose labels are all known for "
        "figures comparable with training's."
    )


def _score_columns(scores: pd.DataFrame) -> list[tuple[str, str, dict]]:
    """(column, legend name, line style): the ensemble first, then baselines, members."""
    cols = [("fraud_score", "ensemble", {"width": 3, "color": "#12355b"})]
    cols += [
        (c, f"baseline {c[len('baseline_') :]}", {"width": 2, "dash": "dash"})
        for c in sorted(scores.columns) if c.startswith("baseline_")
    ]  # fmt: skip
    cols += [
        (c, c.replace("_", " "), {"width": 1, "dash": "dot"})
        for c in sorted(scores.columns) if c.startswith("member_")
    ]  # fmt: skip
    return cols


def _curves(scores: pd.DataFrame, kind: str) -> Section:
    fig, labels = new_figure(), scores["label"].to_numpy()
    make, area = (pr_curve, "AP") if kind == "pr" else (roc_curve, "AUC")
    for col, name, line in _score_columns(scores):
        c = make(labels, scores[col].to_numpy())
        if c is not None:
            fig.add_trace(go.Scatter(
                x=np.asarray(c.x), y=np.asarray(c.y), mode="lines",  # arrays validate fast
                name=f"{name} ({area} {c.area:.3f})", line=line,
                hovertemplate="%{x:.1%} / %{y:.1%}<extra>" + plot_text(name) + "</extra>",
            ))  # fmt: skip
    if kind == "pr":
        style(fig, "Precision-recall curve on the test window", height=440)
        fig.update_xaxes(title_text="recall (% of frauds alerted)", tickformat=".0%")
        fig.update_yaxes(title_text="precision (% of alerts that are fraud)", tickformat=".0%")
    else:
        style(fig, "ROC curve on the test window", height=440)
        fig.update_xaxes(title_text="false positive rate (% of normals alerted)", tickformat=".0%")
        fig.update_yaxes(title_text="true positive rate (% of frauds alerted)", tickformat=".0%")
    title = "Precision-recall" if kind == "pr" else "ROC"
    if not fig.data:
        return Section(title, paragraph("Undefined: the test window has only one class."))
    return Section(title, figure(fig, f"{title} curves"))


def _histogram(scores: pd.DataFrame) -> Section:
    h = score_histogram(scores["label"].to_numpy(), scores["fraud_score"].to_numpy())
    mids = [(a + b) / 2 for a, b in zip(h.edges[:-1], h.edges[1:], strict=True)]
    fig = new_figure()
    for name, color in (("normal", "#1f77b4"), ("fraud", "#d62728")):
        if h.shares[name] is not None:
            fig.add_trace(go.Bar(
                x=mids, y=h.shares[name], name=name, marker_color=color, opacity=0.7,
                hovertemplate="score %{x:.3f}: %{y:.2%} of " + name + " rows<extra></extra>",
            ))  # fmt: skip
    style(fig, "Ensemble score distribution by class (test window)")
    fig.update_layout(barmode="overlay", bargap=0)
    fig.update_xaxes(title_text="fraud score (probability)", range=[0, 1])
    # "~%": as many digits as a tick needs (".1%" wrote 0.05 %, 0.02 % and 0.01 % as "0.0%")
    fig.update_yaxes(title_text="share of the class's rows (%, log scale)", type="log",
                     tickformat="~%")  # fmt: skip
    return Section("Score distributions", figure(fig, "score histogram by class"))


def _days(scores: pd.DataFrame) -> np.ndarray:
    if "timestamp" in scores.columns:
        ts = pd.to_datetime(scores["timestamp"], utc=True)
        return ts.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")  # UTC calendar days
    return np.zeros(len(scores), dtype=int)


def _threshold(scores: pd.DataFrame, budget: float) -> Section:
    budgets = budgets_around(budget)
    cards = scores["card_id"].to_numpy() if "card_id" in scores.columns else None
    rows = threshold_table(
        scores["label"].to_numpy(), scores["fraud_score"].to_numpy(), _days(scores), budgets,
        card_ids=cards,
    )  # fmt: skip
    cells = [
        [fmt_pct(r.budget, 2), fmt_int(r.alerts), fmt_num(r.alerts_per_day, 1),
         fmt_score(r.threshold), fmt_pct(r.precision), fmt_pct(r.recall),
         fmt_pct(r.card_precision)]
        for r in rows
    ]  # fmt: skip
    marks = ["focus" if r.budget == budget else "" for r in rows]
    headers = ["alert budget (% of rows)", "alerts", "alerts per day", "score threshold",
               "precision", "recall", "card precision"]  # fmt: skip
    fig = new_figure()
    for attr, name in (("precision", "precision"), ("recall", "recall"),
                       ("card_precision", "card precision")):  # fmt: skip
        y = [getattr(r, attr) for r in rows]
        if any(v is not None for v in y):
            fig.add_trace(go.Scatter(x=[r.alerts_per_day for r in rows], y=y, name=name,
                                     mode="lines+markers", hovertemplate="%{y:.1%}"))  # fmt: skip
    focus = next(r for r in rows if r.budget == budget)
    fig.add_vline(x=focus.alerts_per_day, line_dash="dash", line_color="#444",
                  annotation_text=f"configured budget {fmt_pct(budget, 2)}")  # fmt: skip
    style(fig, "What an alert budget buys (test window)")
    fig.update_xaxes(title_text="alerts per day (transactions)", tickformat=",.0f")
    fig.update_yaxes(title_text="share (%)", tickformat=".0%", range=[0, 1.05])
    note = (
        f"The configured alert budget ({fmt_pct(budget, 2)} of transactions) is the bold row. "
        "Alerts: the top ceil(budget x rows of the day) scores of each day and every score "
        "tied with the day's last of them (as evaluate and backtest count them: a model of few "
        "distinct scores alerts more); threshold: the lowest alerted score. Card precision: alerted "
        "cards that had a fraud that day / alerted cards (per day, mean)."
    )
    body = table(headers, cells, numeric=range(1, 7), row_classes=marks) + figure(
        fig, "threshold plot"
    )
    return Section("Threshold table around the alert budget", body, note)


def _card_precision(scores: pd.DataFrame | None, data: RunData, k: int) -> list[Section]:
    """Card precision@k per day: from the evaluation JSON (C4) or the scores' card_id."""
    series = [
        (e.get("_file", "evaluation"), e["card_precision_at_k"])
        for e in data.evaluations
        if (e.get("card_precision_at_k") or {}).get("per_day")
    ]
    if not series and scores is not None and "card_id" in scores.columns:
        per_day = card_precision_at_k(scores["label"].to_numpy(), scores["fraud_score"].to_numpy(),
                                      _days(scores), scores["card_id"].to_numpy(), k)  # fmt: skip
        series = [("test window", {"k": k, "per_day": per_day})]
    if not series:
        return []
    fig = new_figure()
    for name, c in series:
        days = c["per_day"]
        fig.add_trace(go.Scatter(
            x=[d["date"] for d in days], y=[d["precision"] for d in days], mode="lines+markers",
            name=f"{name} (k = {fmt_int(c.get('k'))})",
            customdata=[fmt_int(d.get("cards")) for d in days],
            hovertemplate="%{x}: %{y:.1%} (%{customdata} cards that day)<extra></extra>",
        ))  # fmt: skip
    style(fig, "Card precision@k per day")
    # every day of the span, in date order: by first appearance, the test window's days
    # came before the validation window's (file-name order), and the gap between them hid
    days = calendar_days(d["date"] for _, c in series for d in c["per_day"])
    fig.update_xaxes(title_text="date (UTC)", type="category", categoryorder="array",
                     categoryarray=days)  # fmt: skip
    fig.update_yaxes(
        title_text="precision of the top-k cards (%)", tickformat=".0%", range=[0, 1.05]
    )
    note = (
        "Each day the k cards with the highest score of the day are reviewed; precision = "
        "those with a fraud that day / k (Le Borgne et al.), so a day with fewer than k cards "
        "stays below 1 (hover: the day's cards). Cards caught on an earlier day are left out. "
        "Evaluations written before session 20 divided by min(k, cards)."
    )
    return [Section("Card precision@k", figure(fig, "card precision at k per day"), note)]


def _evaluation_budgets(data: RunData) -> Section | None:
    rows = []
    for e in data.evaluations:
        rows += [(e.get("_file", "evaluation"), b) for b in e.get("alert_budgets") or []]
        if isinstance(e.get("model_threshold"), dict):  # evaluate, from session 20
            rows.append((e.get("_file", "evaluation"), {**e["model_threshold"], "scope": "fixed"}))
    if not rows:
        return None
    cells = [
        [name, "the model's threshold" if b.get("scope") == "fixed" else fmt_pct(b.get("budget"), 2),
         _scope(b), fmt_num(b.get("alerts_per_day"), 1),
         fmt_score(b.get("threshold")), fmt_pct(b.get("precision")), fmt_pct(b.get("recall"))]
        for name, b in rows
    ]  # fmt: skip
    headers = ["evaluation", "alert budget", "of the rows of", "alerts per day", "threshold",
               "precision", "recall"]  # fmt: skip
    note = (
        "Each day's top ceil(budget x rows of the day) scores are alerted, and every score "
        "tied with the day's last of them (evaluations from session 50; before, the earlier "
        "row took the last alert); threshold: the "
        "lowest alerted score. The model's threshold: every score >= the threshold stored "
        "with the model, as `fraud-app score` alerts (a fixed score: alerts per day vary). "
        "Evaluations written before session 20 (no scope) alerted the top round(budget x "
        "rows) of the whole window."
    )
    body = table(headers, cells, numeric=[1, 3, 4, 5, 6])
    return Section("Alert budgets in saved evaluations", body, note)


def _scope(budget: dict) -> str:
    scope = budget.get("scope")
    if scope == "fixed":
        return "every day, score >= threshold"
    return "each day" if scope == "day" else "the window (before session 20)"


def _unassigned(evaluation: dict) -> dict | None:
    """An evaluation's frauds without a pattern (`pattern_unassigned`), when it had any."""
    u = evaluation.get("pattern_unassigned")
    frauds = u.get("frauds") if isinstance(u, dict) else None
    return (
        u
        if isinstance(frauds, int | float) and not isinstance(frauds, bool) and frauds > 0
        else None
    )


def _pattern_trace(evaluation: dict) -> str:
    """An evaluation's name in the pattern chart, with the alert budget its recall is at
    (`pattern_recall_budget`): two evaluations at 1 % and 2 % were bars side by side under
    their file names alone, read at the page's configured budget."""
    name = str(evaluation.get("_file", "evaluation"))
    budget = evaluation.get("pattern_recall_budget")
    return f"{name} (alert budget {fmt_pct(budget, 2)})" if budget is not None else name


def _patterns(data: RunData) -> Section | None:
    """The recall per pattern of the evaluations that have patterns, and in the note the
    frauds without one of every evaluation (none with a pattern: no section, as data
    without a fraud_pattern column has none)."""
    named = [(_pattern_trace(e), e.get("pattern_recall") or {}, _unassigned(e))
             for e in data.evaluations]  # fmt: skip
    found = [(name, recall) for name, recall, _ in named if recall]
    if not found:
        return None
    fig = new_figure()
    for name, recall in found:
        names = sorted(recall, key=lambda p: recall[p] if recall[p] is not None else -1)
        fig.add_trace(go.Bar(
            y=names, x=[recall[p] for p in names], orientation="h", name=name,
            texttemplate="%{x:.1%}", hovertemplate="%{y}: %{x:.1%}<extra>%{fullData.name}</extra>",
        ))  # fmt: skip
    style(fig, "Recall per fraud pattern", height=140 + 40 * max(len(r) for _, r in found))
    fig.update_xaxes(title_text="recall (% of the pattern's frauds in the daily alerts of "
                     "the evaluation's alert budget)", tickformat=".0%",
                     range=[0, 1.05])  # fmt: skip
    fig.update_yaxes(title_text="fraud pattern", automargin=True)
    counts = [
        f"{name}: {fmt_int(u.get('frauds'))} without a pattern, {fmt_pct(u.get('recall'))} "
        "of them alerted"
        for name, _, u in named if u
    ]  # fmt: skip
    note = (
        "Frauds without a pattern (a null fraud_pattern, e.g. labels delivered later without "
        f"one) are in no bar: {'; '.join(counts)}."
        if counts else ""
    )  # fmt: skip
    return Section("Recall per fraud pattern", figure(fig, "recall per fraud pattern"), note)
