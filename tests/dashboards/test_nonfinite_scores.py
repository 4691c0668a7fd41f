"""NaN or infinite scores in a run's test scores. A NaN sorts below every number, so a
member that scored every normal row NaN drew `member 00 (AP 1.000)` / `(AUC 1.000)` on the
model-quality page, exit 0; a NaN ensemble score raised dlcore's ConfigError in the
threshold table and the WHOLE page became "could not be drawn" (its headline figures and
registry decision too). Now such a member or baseline column is left out of the curves and
named; NaN ensemble scores take out the sections that read the scores, named, and the
others are drawn; either way the run counts as partly drawn (exit 3)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from dashboards import render_all
from dashboards.errors import DashboardInputError
from dashboards.prep.metrics import pr_curve, roc_curve, score_histogram, threshold_table
from dashboards.synthetic import SyntheticRun, write_run

SMALL = SyntheticRun(run="r1", members=2, groups=6, scored_days=4, test_rows=3_000, features=8)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_the_curves_refuse_scores_that_are_not_finite(bad):
    labels, scores = [0, 1, 0], [bad, 0.9, 0.1]
    for make in (pr_curve, roc_curve, score_histogram):
        with pytest.raises(DashboardInputError, match=r"scores must be finite: 1 of 3 are NaN"):
            make(labels, scores)
    with pytest.raises(DashboardInputError, match=r"scores must be finite: 1 of 3"):
        threshold_table(labels, scores, ["d"] * 3, [0.5])


def _scores(src, edit):
    path = src.scores / "r1" / "part-00000.parquet"
    df = pd.read_parquet(path)
    edit(df)
    df.to_parquet(path, index=False)
    return df


def _render(src):
    unreadable: list[str] = []
    render_all(src, unreadable=unreadable)
    return (src.output / "r1" / "model-quality.html").read_text(), unreadable


def test_a_member_scoring_every_normal_nan_draws_no_perfect_curve(tmp_path):
    src = write_run(tmp_path, SMALL)
    df = _scores(src, lambda d: d.__setitem__("member_00", d["member_00"].where(d["label"] == 1)))
    normals = int((df["label"] == 0).sum())
    page, unreadable = _render(src)
    assert "member 00 (AUC" not in page and "member 00 (AP" not in page  # was 1.000 both
    assert "member 01 (AUC" in page and "ensemble (AUC" in page  # the others are drawn
    why = f"member_00 {normals:,} of {len(df):,}"
    assert f"Not drawn: {src.scores / 'r1'}: scores must be finite" in page and why in page
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles[2:5] == ["Curves left out", "Precision-recall", "ROC"]
    assert len(unreadable) == 1 and why in unreadable[0]  # exit 3


def test_nan_ensemble_scores_leave_the_sections_that_do_not_read_them(tmp_path):
    src = write_run(tmp_path, SMALL)
    _scores(src, lambda d: d.__setitem__("fraud_score", d["fraud_score"].mask(d.index < 5)))
    page, unreadable = _render(src)
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert "This page could not be drawn" not in titles
    assert titles[:3] == ["Headline figures", "Registry decision: champion", "Test-window scores"]
    assert "Recall per fraud pattern" in titles and "Precision-recall" not in titles
    assert "fraud_score 5 of 3,000" in page and "fraud_score 5 of 3,000" in unreadable[0]


def test_an_unlabelled_row_without_a_score_is_not_drawn_and_harms_nothing(tmp_path):
    src = write_run(tmp_path, SMALL)

    def unlabelled(d):
        d["label"] = d["label"].astype("float64").mask(d.index < 3)
        d["fraud_score"] = d["fraud_score"].mask(d.index < 3)

    _scores(src, unlabelled)
    page, unreadable = _render(src)
    assert unreadable == [] and "ensemble (AUC" in page
