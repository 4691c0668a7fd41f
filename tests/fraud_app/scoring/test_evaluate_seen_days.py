"""`evaluate` of a window the model trained on (session 22 probe): the figures of rows the
model learnt were reported like those of an unseen window, without a word (an engineer
evaluating `@champion` on last month got an AUC near 1). Now the report's `trained_on`
names those dates, from the model's `trained_from` / `trained_through`, and one WARNING
says the figures are optimistic there. Real Spark on the small table of
test_evaluate_definitions (dates 2024-01-01..03)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.evaluate import run_evaluation, seen_in_training
from pipelines.training import trained_dates
from tests.fraud_app.scoring.test_evaluate_definitions import _setup

D = dt.date


@pytest.mark.parametrize(
    ("meta", "window", "seen"),
    [
        ({}, (D(2024, 1, 1), D(2024, 1, 3)), None),  # a model that does not say
        # midnight end: its own date is not trained on
        ({"trained_through": "2024-01-03T00:00:00+00:00"}, (D(2024, 1, 1), D(2024, 1, 3)),
         ("2024-01-01", "2024-01-02", 2)),
        # a window after the training: nothing seen
        ({"trained_through": "2024-01-03T00:00:00+00:00"}, (D(2024, 1, 3), D(2024, 1, 9)), None),
        # an end inside a day: that day was partly trained on
        ({"trained_through": "2024-01-03T06:00:00"}, (D(2024, 1, 3), D(2024, 1, 9)),
         ("2024-01-03", "2024-01-03", 1)),
        # a window before the train window's start: not seen
        ({"trained_through": "2024-02-01T00:00:00+00:00",
          "trained_from": "2024-01-10T00:00:00+00:00"}, (D(2024, 1, 1), D(2024, 1, 9)), None),
        ({"trained_through": "2024-02-01T00:00:00+00:00",
          "trained_from": "2024-01-10T00:00:00+00:00"}, (D(2024, 1, 1), D(2024, 3, 1)),
         ("2024-01-10", "2024-01-31", 22)),
    ],
)  # fmt: skip
def test_the_dates_a_model_trained_on_are_those_of_its_metadata(meta, window, seen):
    found = seen_in_training(meta, *window)
    if seen is None:
        assert found is None
    else:
        assert (found["first"], found["last"], found["days"]) == seen
        assert found["trained_through"] == meta["trained_through"]


def test_training_stores_where_its_train_window_starts():
    w = SimpleNamespace(start=dt.datetime(2024, 1, 10, tzinfo=dt.UTC))
    assert trained_dates.trained_from(SimpleNamespace(windows=(w,))) == "2024-01-10T00:00:00+00:00"
    unbounded = SimpleNamespace(windows=(SimpleNamespace(start=None),))
    assert trained_dates.trained_from(unbounded) is None


@pytest.mark.spark
def test_a_window_the_model_trained_on_is_named_and_warned(spark, tmp_path, caplog):
    config, _, _ = _setup(spark, tmp_path)
    model = FraudEnsemble.load(tmp_path / "m")
    window = {"start": D(2024, 1, 1), "end": D(2024, 1, 3)}
    report, _ = run_evaluation(spark, config, model_uri=str(tmp_path / "m"), **window)
    assert report["trained_on"] is None  # a model without the record: nothing claimed

    model.metadata["trained_through"] = "2024-01-03T00:00:00+00:00"
    model.save(tmp_path / "m2")
    with caplog.at_level("WARNING", logger="fraud_app.scoring.evaluate"):
        report, path = run_evaluation(spark, config, model_uri=str(tmp_path / "m2"), **window)
    assert report["trained_on"] == {
        "first": "2024-01-01", "last": "2024-01-02", "days": 2, "trained_from": None,
        "trained_through": "2024-01-03T00:00:00+00:00",
    }  # fmt: skip
    assert '"trained_on"' in path.read_text()
    [line] = [r.getMessage() for r in caplog.records if "trained on" in r.getMessage()]
    assert "2 date(s) of the window, 2024-01-01..2024-01-02, may be rows it learnt" in line


@pytest.mark.spark
def test_an_old_refit_model_without_its_dates_says_they_are_unknown(spark, tmp_path, caplog):
    """Session 29 (upgrades): an ensemble saved before session 18 records no trained_through;
    refit on train + validation (its stored training.refit, on by default since session 10),
    it trained on its own validation window. Evaluated there, `trained_on` was null, as for a
    window it never saw: now it says the dates are unknown, with one WARNING."""
    config, _, _ = _setup(spark, tmp_path)
    model = FraudEnsemble.load(tmp_path / "m")
    # the metadata as session 10's `train` wrote it: its training settings, no dates
    model.metadata["training"] = {"refit": {"enabled": True, "method": "warm_start"}}
    model.save(tmp_path / "old")
    window = {"start": D(2024, 1, 1), "end": D(2024, 1, 3)}
    with caplog.at_level("WARNING", logger="fraud_app.scoring.evaluate"):
        report, path = run_evaluation(spark, config, model_uri=str(tmp_path / "old"), **window)
    seen = report["trained_on"]
    assert seen is not None and seen["first"] is None and seen["days"] is None
    assert "did not record the dates it trained on" in seen["unknown"]
    [line] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert f"model {tmp_path / 'old'} was saved by an older fraud-app" in line
    assert "figures may be optimistic" in line
    assert "did not record the dates" in path.read_text()

    # refit off: it trained before its validation window only, as it says: nothing claimed
    model.metadata["training"] = {"refit": {"enabled": False}}
    model.save(tmp_path / "old-norefit")
    report, _ = run_evaluation(spark, config, model_uri=str(tmp_path / "old-norefit"), **window)
    assert report["trained_on"] is None
