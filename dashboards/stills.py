"""A run's key charts as SVG files (`<run>/plots/*.svg`), beside its HTML pages.

The pages draw with plotly.js, loaded from the shared `assets/` bundle by a relative path.
MLflow's artifact viewer shows an HTML artifact from a `blob:` URL, where no relative
script loads, so the logged pages showed their tables but none of their plots there. It
shows SVG images as they are: these stills are what an ML engineer deciding on a promotion
sees in MLflow. Same figures as the pages (dashboards.prep), fewer of them, no hover.

Owns which charts and their files; not the drawing (dashboards.svg) or the figures.
"""

from __future__ import annotations

import pandas as pd

from dashboards.prep.metrics import pr_curve, roc_curve, score_histogram
from dashboards.prep.training import member_x, validation_points
from dashboards.sources import RunData
from dashboards.svg import Chart

PLOTS = "plots"  # the folder under the run's page folder


def stills(data: RunData) -> dict[str, str]:
    """File name -> SVG text of each chart the run's saved data defines."""
    out: dict[str, str] = {}
    scores = data.scores
    if scores is not None and {"label", "fraud_score"} <= set(scores.columns):
        scores = scores[scores["label"].notna()]
        for kind in ("pr", "roc"):
            chart = _curves(scores, kind)
            if chart is not None:
                out["precision_recall.svg" if kind == "pr" else "roc.svg"] = chart.to_svg()
        hist = _histogram(scores)
        if hist is not None:
            out["score_histogram.svg"] = hist.to_svg()
    members = data.training.get("members") or []
    if any(m.get("history") for m in members):
        out["training_loss.svg"] = _loss(members).to_svg()
    if any(m.get("validation") for m in members):
        out["validation_ap.svg"] = _validation(members).to_svg()
    return out


def _score_columns(scores: pd.DataFrame) -> list[tuple[str, str, dict]]:
    """(column, legend name, line style): the ensemble, then the baselines (members are
    left out: five dotted lines hide the ensemble's in a still)."""
    cols = [("fraud_score", "ensemble", {"width": 3.0})]
    cols += [
        (c, f"baseline {c[len('baseline_') :]}", {"width": 2.0, "dash": "dash"})
        for c in sorted(scores.columns) if c.startswith("baseline_")
    ]  # fmt: skip
    return cols


def _curves(scores: pd.DataFrame, kind: str) -> Chart | None:
    labels = scores["label"].to_numpy()
    if kind == "pr":
        make, area = pr_curve, "AP"
        chart = Chart("Precision-recall curve on the test window",
                      "recall (share of frauds alerted)", "precision (share of alerts that are fraud)",
                      x_range=(0.0, 1.0), y_range=(0.0, 1.0), percent=(True, True))  # fmt: skip
    else:
        make, area = roc_curve, "AUC"
        chart = Chart("ROC curve on the test window",
                      "false positive rate (share of normals alerted)",
                      "true positive rate (share of frauds alerted)",
                      x_range=(0.0, 1.0), y_range=(0.0, 1.0), percent=(True, True))  # fmt: skip
    for col, name, line in _score_columns(scores):
        curve = make(labels, scores[col].to_numpy())
        if curve is not None:
            chart.line(curve.x, curve.y, f"{name} ({area} {curve.area:.3f})", **line)
    return chart if chart.series else None


def _histogram(scores: pd.DataFrame) -> Chart | None:
    h = score_histogram(scores["label"].to_numpy(), scores["fraud_score"].to_numpy())
    mids = [(a + b) / 2 for a, b in zip(h.edges[:-1], h.edges[1:], strict=True)]
    width = (h.edges[-1] - h.edges[0]) / max(len(mids), 1)
    shares = [v for name in ("normal", "fraud") for v in (h.shares[name] or []) if v and v > 0]
    if not shares:
        return None
    chart = Chart("Ensemble score distribution by class (test window)",
                  "fraud score (probability)", "share of the class's rows (log scale)",
                  x_range=(0.0, 1.0), y_range=(min(shares) / 2, 1.0), y_log=True,
                  percent=(False, True))  # fmt: skip
    for name, color in (("normal", "#1f77b4"), ("fraud", "#d62728")):
        if h.shares[name] is not None:
            chart.bars(mids, h.shares[name], name, bar_width=width, color=color)
    return chart


def _loss(members: list[dict]) -> Chart:
    axis = "epoch"
    chart = Chart("Training loss per member (mean over each group)", "", "loss (mean per example)")
    for i, m in enumerate(members):
        x, axis = member_x(m)
        chart.line(x, [h.get("loss") for h in m.get("history") or []], f"member {i:02d}")
    chart.x_label = "epochs completed" if axis == "epoch" else "iteration"
    return chart


def _validation(members: list[dict]) -> Chart:
    chart = Chart("Validation average precision per epoch", "epochs completed", "average precision",
                  percent=(False, True))  # fmt: skip
    for i, m in enumerate(members):
        x, y = validation_points(m)
        chart.line(x, y, f"member {i:02d}")
    return chart
