"""The SVG stills of a run (`<run>/plots/*.svg`): what MLflow's artifact viewer shows, where
the pages' plotly.js cannot load. Parsed as XML; the figures checked against scikit-learn
on the same saved scores; no browser."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from dashboards import render_all
from dashboards.svg import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Chart

NS = "{http://www.w3.org/2000/svg}"
FILES = {
    "precision_recall.svg",
    "roc.svg",
    "score_histogram.svg",
    "training_loss.svg",
    "validation_ap.svg",
}


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def _points(poly: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in poly.get("points").split()]


def test_a_chart_is_svg_whose_points_lie_in_the_plot_and_whose_text_is_not_markup():
    name = 'pattern <script>alert(1)</script> & "x"'
    svg = (
        Chart("t <b>", "x", "y", x_range=(0, 1), y_range=(0, 1))
        .line([0, 0.5, 1], [0, 1, 0.5], name)
        .to_svg()
    )
    root = ET.fromstring(svg)  # well-formed XML
    assert name in _texts(root) and "t <b>" in _texts(root)
    assert "<script" not in svg and not list(root.iter(f"{NS}script"))
    [poly] = root.iter(f"{NS}polyline")
    pts = _points(poly)
    assert pts[0] == (LEFT, HEIGHT - BOTTOM) and pts[2][0] == WIDTH - RIGHT
    assert pts[1][1] == TOP  # y = 1 at the top of the plot


def test_a_gap_breaks_the_line_and_a_log_axis_leaves_out_what_it_cannot_place():
    chart = Chart("t", "x", "y", y_log=True)
    chart.line([0, 1, 2, 3, 4], [1.0, 0.1, float("nan"), 0.0, 0.01], "a")
    root = ET.fromstring(chart.to_svg())
    runs = [_points(p) for p in root.iter(f"{NS}polyline")]
    assert [len(r) for r in runs] == [2, 1]  # NaN and 0 (no log) break it
    ticks = _texts(root)
    assert "1" in ticks and "0.1" in ticks and "0.01" in ticks  # powers of ten


def test_a_run_gets_its_stills_with_the_figures_of_its_scores(small_run):
    written = render_all(small_run)
    folder = small_run.output / "r1" / "plots"
    assert {p.name for p in written if p.parent == folder} == FILES
    scores = pd.read_parquet(small_run.scores / "r1")
    scores = scores[scores["label"].notna()]
    y = scores["label"].to_numpy()
    pr = ET.fromstring((folder / "precision_recall.svg").read_text())
    roc = ET.fromstring((folder / "roc.svg").read_text())
    baselines = sorted(c for c in scores.columns if c.startswith("baseline_"))
    for col, name in [("fraud_score", "ensemble")] + [(c, f"baseline {c[9:]}") for c in baselines]:
        ap = average_precision_score(y, scores[col].to_numpy())
        auc = roc_auc_score(y, scores[col].to_numpy())
        assert f"{name} (AP {ap:.3f})" in _texts(pr)
        assert f"{name} (AUC {auc:.3f})" in _texts(roc)
    assert len(list(pr.iter(f"{NS}polyline"))) == 1 + len(baselines)
    for path in folder.glob("*.svg"):
        ET.fromstring(path.read_text())
    index = (small_run.output / "r1" / "index.html").read_text()
    assert set(re.findall(r'href="plots/([^"]+)"', index)) == FILES


def test_a_chart_the_data_no_longer_defines_is_removed(small_run):
    render_all(small_run)
    folder = small_run.output / "r1" / "plots"
    for part in (small_run.scores / "r1").rglob("*.parquet"):
        part.unlink()
    render_all(small_run)
    assert {p.name for p in folder.glob("*.svg")} == {"training_loss.svg", "validation_ap.svg"}


@pytest.mark.parametrize(
    ("label", "undefined"),
    [(0.0, {"precision_recall.svg", "roc.svg"}), (1.0, {"roc.svg"})],  # all frauds: AP 1
)
def test_a_curve_one_class_leaves_undefined_is_not_drawn(small_run, label, undefined):
    render_all(small_run)
    path = next((small_run.scores / "r1").rglob("*.parquet"))
    df = pd.read_parquet(path)
    for part in (small_run.scores / "r1").rglob("*.parquet"):
        part.unlink()
    df.assign(label=label).to_parquet(path)
    render_all(small_run)
    names = {p.name for p in (small_run.output / "r1" / "plots").glob("*.svg")}
    assert names == FILES - undefined
