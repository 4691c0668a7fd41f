"""The backtest page from a report that follows pipelines.backtest's layout (no Spark)."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from dashboards import render_all, render_backtest
from dashboards.assets import plotly_name, plotly_src
from dashboards.errors import DashboardInputError
from dashboards.prep.backtest import differences, fold_metrics, summary

ENSEMBLE_AP = [0.61, 0.42, 0.55, 0.70]
BASELINE_AP = [0.58, 0.47, 0.50, 0.64]


def _fold(k: int, ok: bool = True) -> dict:
    day = 5 + 7 * k

    def model(ap):
        return {"roc_auc": 0.95 + 0.01 * k, "average_precision": ap, "recall_at_budget": 0.4,
                "card_precision_at_k": 0.05, "card_precision_per_day": []}  # fmt: skip

    return {
        "fold": k,
        "windows": {"train_start": "2024-01-01T00:00:00+00:00",
                    "train_end": f"2024-01-{day - 14:02d}T00:00:00+00:00",
                    "validation_start": f"2024-01-{day - 14:02d}T00:00:00+00:00",
                    "validation_end": f"2024-01-{day - 7:02d}T00:00:00+00:00",
                    "test_start": f"2024-01-{day:02d}T00:00:00+00:00",
                    "test_end": f"2024-01-{day + 7:02d}T00:00:00+00:00"},
        "leakage_check": {"cutoff": f"2024-01-{day:02d}T00:00:00+00:00", "rows": 12_345,
                          "max_timestamp": "x", "max_fraud_label_known_at": "y",
                          "max_label_settled_at": "z", "ok": ok},
        "test_rows": 4_409, "test_frauds": 66, "best_iterations": [81, 64], "refit": True,
        "models": {"ensemble": model(ENSEMBLE_AP[k]), "baseline": model(BASELINE_AP[k])},
        "seconds": 79.0,
    }  # fmt: skip


def _report(leak_fold: int | None = None) -> dict:
    folds = [_fold(k, ok=k != leak_fold) for k in range(4)]
    return {"run": "bt1", "config": {"step_days": 7}, "label_delay_days": 7,
            "feature_names": ["a", "b"], "folds": folds,
            "summary": {"ensemble": {"average_precision": {"mean": float(np.mean(ENSEMBLE_AP))}},
                        "baseline": {"average_precision": {"mean": float(np.mean(BASELINE_AP))}},
                        "leakage_checks_ok": leak_fold is None},
            "seconds": 321.0}  # fmt: skip


def _write(sources, name: str, report: dict) -> None:
    (sources.reports / f"backtest-{name}.json").write_text(json.dumps(report))


def test_prep_means_and_differences_match_the_folds():
    report = _report()
    df = fold_metrics(report)
    assert len(df) == 4 * 2 * 4  # folds x models x metrics
    s = summary(report).set_index(["model", "metric"])
    assert s.loc[("ensemble", "average_precision"), "mean"] == pytest.approx(np.mean(ENSEMBLE_AP))
    assert s.loc[("baseline", "average_precision"), "std"] == pytest.approx(
        np.std(BASELINE_AP, ddof=1)
    )
    ap = next(d for d in differences(report) if d.metric == "average_precision")
    assert ap.versus == "baseline"
    assert ap.per_fold == pytest.approx(np.subtract(ENSEMBLE_AP, BASELINE_AP).tolist())
    assert ap.mean == pytest.approx(np.mean(ENSEMBLE_AP) - np.mean(BASELINE_AP))
    assert ap.folds_ahead == 3


def test_backtest_page_is_written_linked_and_local(small_run):
    _write(small_run, "bt1", _report())
    written = render_all(small_run)
    page = small_run.output / "backtests" / "bt1.html"
    assert page in written and (small_run.output / "assets" / plotly_name()) in written
    text = page.read_text()
    assert re.findall(r"<h2>(.*?)</h2>", text) == [
        "Mean over folds", "Ensemble against the baseline", "Metrics per fold",
        "Fold windows", "Leakage checks: all passed"]  # fmt: skip
    assert re.findall(r'<script src="([^"]+)"', text) == [plotly_src()]
    assert "https://cdn" not in text
    assert "0.0225" in text  # mean AP difference (0.57 - 0.5475), 4 decimals
    assert "3 of 4" in text and "4,409" in text
    # ahead in AP (green); level in ROC AUC (the folds' figures are equal): neither colour
    assert '<tr class="good"><td>average precision</td>' in text
    assert "<tr><td>ROC AUC</td><td>ensemble - baseline</td>" in text
    index = (small_run.output / "index.html").read_text()
    assert 'href="backtests/bt1.html"' in index and "0.5700" in index
    assert 'href="r1/index.html"' in index  # the runs are still listed


def test_a_failed_leakage_check_is_marked(small_run):
    _write(small_run, "leaky", _report(leak_fold=2))
    render_backtest(small_run, "leaky")
    text = (small_run.output / "backtests" / "leaky.html").read_text()
    assert "<h2>Leakage checks: 1 FAILED</h2>" in text
    assert text.count('<tr class="bad"><td>2</td>') == 1


def test_a_broken_report_is_named_and_skipped(small_run, caplog):
    _write(small_run, "broken", {"run": "broken", "folds": []})
    with pytest.raises(DashboardInputError, match=r"backtest-broken\.json: 'folds' must be"):
        render_backtest(small_run, "broken")
    _write(small_run, "good", _report())
    with caplog.at_level(logging.WARNING, logger="dashboards.render"):
        written = render_all(small_run)
    names = {p.name for p in written}
    assert "good.html" in names and "broken.html" not in names
    assert "backtest broken" in caplog.text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.pop("fold"), r"folds\[0\]\.fold must be the fold's number\. Received None"),
        (lambda f: f["models"].update(baseline=None),
         r"folds\[0\]\.models\.baseline must be an object of metrics\. Received NoneType"),
    ],
)  # fmt: skip
def test_a_fold_that_breaks_the_layout_is_named(small_run, edit, message):
    # a KeyError / AttributeError traceback from the drawing code before
    report = _report()
    edit(report["folds"][0])
    _write(small_run, "bt1", report)
    with pytest.raises(DashboardInputError, match=message):
        render_backtest(small_run, "bt1")


def test_a_metric_undefined_in_every_fold_still_renders(small_run):
    # no fraud in any test window: the backtest writes AP and AUC as null in every fold
    # (jsonout); the page raised KeyError: 'average_precision' and was skipped
    report = _report()
    for fold in report["folds"]:
        for figures in fold["models"].values():
            figures.update(average_precision=None, roc_auc=None)
    _write(small_run, "nofraud", report)
    render_backtest(small_run, "nofraud")
    text = (small_run.output / "backtests" / "nofraud.html").read_text()
    assert "<h2>Ensemble against the baseline</h2>" in text  # recall and card precision
    assert [d.metric for d in differences(report)] == ["recall_at_budget", "card_precision_at_k"]


def test_a_metric_undefined_in_every_fold_keeps_its_row_in_the_means(small_run):
    """The mean table dropped a metric no fold defines (AP and AUC of test windows without
    fraud): it listed recall and card precision only, nothing said AP was undefined."""
    report = _report()
    for fold in report["folds"]:
        fold["models"]["ensemble"].update(average_precision=None)
    report["folds"][0]["models"]["baseline"].update(roc_auc=None)  # 3 of 4 folds define it
    _write(small_run, "nofraud", report)
    render_backtest(small_run, "nofraud")
    text = (small_run.output / "backtests" / "nofraud.html").read_text()
    table = text.split("<h2>Mean over folds</h2>", 1)[1].split("</table>", 1)[0]
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", table)]
    rows = [r for r in cells if r]  # the header row has no <td>
    assert ["ensemble", "average precision", "-", "-", "0"] in rows
    auc = [0.95 + 0.01 * k for k in (1, 2, 3)]
    assert ["baseline", "ROC AUC", f"{np.mean(auc):.4f}", f"{np.std(auc, ddof=1):.4f}", "3"] in rows
    assert len(rows) == 2 * 4  # every model x metric


@pytest.mark.parametrize(
    "summary", ["x", {"ensemble": "x"}, {"ensemble": {"average_precision": 3}}]
)
def test_a_summary_of_another_shape_leaves_the_index(small_run, summary):
    # `summary: "x"` was an AttributeError out of render_all (the top index's backtest list)
    report = _report()
    report["summary"] = summary
    _write(small_run, "odd", report)
    render_all(small_run)
    index = (small_run.output / "index.html").read_text()
    assert 'href="backtests/odd.html"' in index and 'href="r1/index.html"' in index


def test_the_fold_windows_show_the_data_each_window_held(small_run):
    """Session 49: `covered` (the first and last row each window held) beside the
    configured window; a fold whose test window runs past the data says where its data
    ends. A report without it (before session 49) shows the configured windows alone."""
    report = _report()
    report["folds"][3]["covered"] = {
        "train": {"rows": 900, "first": "2024-01-01T00:10:00+00:00",
                  "last": "2024-01-12T23:50:00+00:00"},
        "validation": {"rows": 0, "first": None, "last": None},
        "test": {"rows": 300, "first": "2024-01-26T00:05:00+00:00",
                 "last": "2024-01-28T21:00:00+00:00"},
    }  # fmt: skip
    _write(small_run, "bt1", report)
    render_backtest(small_run, "bt1")
    text = (small_run.output / "backtests" / "bt1.html").read_text(encoding="utf-8")
    assert "2024-01-26 .. 2024-01-33 (data 2024-01-26 .. 2024-01-28)" in text
    assert "2024-01-12 .. 2024-01-19 (no data)" in text
    assert "2024-01-01 .. 2024-01-12 (data 2024-01-01 .. 2024-01-12)" in text
    assert "<td>2024-01-19 .. 2024-01-26</td>" in text  # fold 2: no `covered`
