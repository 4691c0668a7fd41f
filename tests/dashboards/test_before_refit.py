"""The headline figures of a run with `training.refit` (session 27 probe): its validation
figures are the early-stopped ensemble's, before the refit on train + validation, while the
saved model trained on that window (`evaluate` of it there: AP 0.819 where the page showed
0.669 under the run's name alone). The page says so on those rows."""

from __future__ import annotations

from dashboards.pages.model_quality import _metrics
from dashboards.sources import RunData


def _figures(ap: float) -> dict:
    return {"rows": 1234, "frauds": 23, "roc_auc": 0.97, "average_precision": ap}


def test_validation_rows_of_a_refit_run_say_before_the_refit():
    window = {"start": "2024-02-13", "end": "2024-02-17"}
    evaluations = [
        {"_file": "evaluation-r1-validation.json", "window": window, "before_refit": True,
         **_figures(0.6685)},
        {"_file": "evaluation-r1-test.json", "window": window, "before_refit": False,
         **_figures(0.8263)},
    ]  # fmt: skip
    metrics = {"validation": _figures(0.6685), "test": _figures(0.8263)}
    body = _metrics(RunData("r1", {"metrics": metrics, "refit": {"method": "warm_start"}},
                            evaluations=evaluations)).body  # fmt: skip
    assert "<td>validation (before the refit)</td>" in body
    assert "evaluation-r1-validation.json (2024-02-13 to 2024-02-17) (before the refit)" in body
    assert "<td>test</td>" in body and "test.json (2024-02-13 to 2024-02-17)</td>" in body
    # without a refit (or a file written before session 27): the names alone
    body = _metrics(RunData("r1", {"metrics": metrics, "refit": None},
                            evaluations=[{**evaluations[0], "before_refit": None}])).body  # fmt: skip
    assert "before the refit" not in body and "<td>validation</td>" in body


def test_an_older_releases_validation_file_of_a_refit_run_says_before_the_refit():
    """Session 29 (upgrades): reports a release before session 27 wrote have no
    `before_refit`; train's `evaluation-<run>-validation.json` of a refit run held the
    early-stopped ensemble's figures then too, and the page showed them under the run's
    name alone (the session 27 misattribution, back for every older run)."""
    window = {"start": "2024-01-24", "end": "2024-01-28"}
    evaluations = [  # as session 10 wrote them: no before_refit key
        {"_file": "evaluation-r1-validation.json", "window": window, **_figures(0.6524)},
        {"_file": "evaluation-r1-test.json", "window": window, **_figures(0.7528)},
        {"_file": "evaluation-e1.json", "window": window, **_figures(0.75)},  # `evaluate`'s
    ]  # fmt: skip
    refit = {"method": "warm_start"}
    body = _metrics(RunData("r1", {"metrics": {}, "refit": refit}, evaluations=evaluations)).body
    assert "evaluation-r1-validation.json (2024-01-24 to 2024-01-28) (before the refit)" in body
    assert body.count("before the refit") == 1
    body = _metrics(RunData("r1", {"metrics": {}, "refit": None}, evaluations=evaluations)).body
    assert "before the refit" not in body


def test_an_evaluation_on_days_the_model_trained_on_says_so():
    """Session 50: `evaluate` of a window the model may have trained on writes `trained_on`
    (and warns); the headline row showed its optimistic figures like a test window's."""
    window = {"start": "2024-02-10", "end": "2024-02-24"}
    seen = {"first": "2024-02-10", "last": "2024-02-17", "days": 8, "trained_from": None,
            "trained_through": "2024-02-18T00:00:00+00:00"}  # fmt: skip
    unknown = {"first": None, "last": None, "days": None, "trained_from": None,
               "trained_through": None, "unknown": "refit without dates"}  # fmt: skip
    evaluations = [
        {"_file": "evaluation-e1.json", "window": window, "trained_on": seen, **_figures(0.9)},
        {"_file": "evaluation-e2.json", "window": window, "trained_on": unknown, **_figures(0.9)},
        {"_file": "evaluation-e3.json", "window": window, "trained_on": None, **_figures(0.7)},
        {"_file": "evaluation-e4.json", "window": window, "trained_on": None,
         "days_without_rows": 3, "dates_without_rows": ["2024-02-22", "2024-02-23",
                                                        "2024-02-24"], **_figures(0.7)},
    ]  # fmt: skip
    body = _metrics(RunData("r1", {"metrics": {}}, evaluations=evaluations)).body
    assert (
        "<td>evaluation-e1.json (2024-02-10 to 2024-02-24) (optimistic: the model may have "
        "trained on 8 of its days, 2024-02-10 to 2024-02-17)</td>"
    ) in body
    assert (
        "<td>evaluation-e2.json (2024-02-10 to 2024-02-24) (optimistic? whether the model "
        "trained on these days is not known)</td>"
    ) in body
    assert "<td>evaluation-e3.json (2024-02-10 to 2024-02-24)</td>" in body
    # the window named is not the data measured: its last 3 days held no rows
    assert (
        "<td>evaluation-e4.json (2024-02-10 to 2024-02-24) (3 of its days without rows)</td>"
        in body
    )
