"""The promotion gate against a champion that trained on part of the new run's validation
window (a refit on train + validation, then a later run whose windows overlap): on real
MLflow (sqlite in tmp). Scored on rows it had learnt, the champion looked better than it
is and kept every retrain out; both are now compared on the window's unseen days only."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest

from fraud_app.models.provenance import TRAINED_THROUGH
from fraud_app.models.train import evaluate_scores
from fraud_app.tracking.runs import start_training_run
from pipelines.commands.run import _print_lifecycle
from pipelines.training import gate, lifecycle, trained_dates
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration

DAYS = np.array(["2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04", "2024-02-05"])


def _window_rows(n_per_day: int = 120):
    """Rows of 5 validation days: on the first three, frauds have a high x0 (what the
    champion scores), on the last two a low x0 (what the new model scores)."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((n_per_day * 5, h.D)).astype(np.float32)
    day = np.repeat(DAYS, n_per_day).astype("datetime64[D]")
    noise = 0.5 * rng.standard_normal(len(X))
    late = day >= np.datetime64("2024-02-04")
    y = np.where(late, X[:, 0] + noise < -1.0, X[:, 0] + noise > 1.0).astype(np.float64)
    return X, y, day


def _champion(through: str):
    model = h.linear_ensemble(2.0)
    model.metadata[TRAINED_THROUGH] = through
    return model


def _gate_new(cfg, tmp_path, X, y, day):
    new = h.linear_ensemble(-2.0)
    scores = {"label": y, "fraud_score": new.predict_proba(X), "event_date": day}
    new_ap = evaluate_scores(y, scores["fraud_score"])["average_precision"]
    with start_training_run(cfg, "new") as tracker:
        ctx = gate.GateContext(cfg, h.NAMES, h.splits(None), new_ap, "features",
                                    rows=(X, y), scores=scores)  # fmt: skip
        out = lifecycle.register_and_gate(
            tracker,
            lifecycle.start_model_logging(tracker, new.save(tmp_path / "models" / "new"), ctx),
        )
    return out, new_ap


def _version_tags(cfg, version):
    return mlflow.MlflowClient().get_model_version(cfg.registry.model_name, version).tags


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_champion_is_compared_only_on_the_days_it_did_not_train_on(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    X, y, day = _window_rows()
    champion = _champion("2024-02-04T00:00:00+00:00")  # trained on 02-01 .. 02-03
    first, _ = h.gate_on_rows(cfg, tmp_path, champion, "champ", (X, y))
    assert first["decision"] == "champion"
    out, full_new_ap = _gate_new(cfg, tmp_path, X, y, day)
    # on the whole window the champion wins: the gate used to keep it
    full_champ_ap = evaluate_scores(y, champion.predict_proba(X))["average_precision"]
    assert full_champ_ap > full_new_ap
    late = day >= np.datetime64("2024-02-04")
    assert out["decision"] == "champion", out
    assert out["window"]["start"] == "2024-02-04" and out["window"]["end"] == "2024-02-06"
    assert out["new_ap"] == pytest.approx(
        evaluate_scores(y[late], h.linear_ensemble(-2.0).predict_proba(X[late]))[
            "average_precision"]
    )  # fmt: skip
    assert out["champion_ap"] == pytest.approx(
        evaluate_scores(y[late], champion.predict_proba(X[late]))["average_precision"]
    )
    # the window's last day (02-05), not its exclusive end: the pages say 02-05 (review50b)
    assert "compared on 2024-02-04..2024-02-05 only" in out["reason"]
    assert out["window"]["last_day"] == "2024-02-05"
    tags = _version_tags(cfg, out["version"])
    assert tags["gate.window_start"] == "2024-02-04"
    assert (tags["gate.window_end"], tags["gate.window_last_day"]) == ("2024-02-06", "2024-02-05")
    assert tags["gate.champion_trained_through"] == "2024-02-04T00:00:00+00:00"


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_champion_that_trained_on_the_whole_window_is_not_compared(tmp_path, monkeypatch,
                                                                     capsys):  # fmt: skip
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    X, y, day = _window_rows()
    # trained through 02-05 13:00: the whole of 02-05 counts as seen (days are compared)
    h.gate_on_rows(cfg, tmp_path, _champion("2024-02-05T13:00:00+00:00"), "champ", (X, y))
    out, _ = _gate_new(cfg, tmp_path, X, y, day)
    assert out["decision"] == "challenger" and out["champion_version"] == "1", out
    assert out["new_ap"] is None and out["champion_ap"] is None
    assert out["validation_ap_undefined"] is False  # its own window's AP was defined
    assert "not compared: champion v1 trained on this validation window" in out["reason"]
    assert "no day of the window is left that it did not train on" in out["reason"]
    assert "hold 0 rows" not in out["reason"]  # an empty range of days was named
    aliases = mlflow.MlflowClient().get_registered_model(cfg.registry.model_name).aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}
    # what `train` / `run` print: why there was no comparison (it said "validation AP
    # undefined (no fraud in the window)")
    _print_lifecycle({"registry": out}, h.config(tmp_path, **{"tracking.enabled": False}))
    printed = capsys.readouterr().err
    assert "registered fraud-ensemble v2 -> challenger (not compared: champion v1 trained" in (
        printed
    )
    assert "undefined" not in printed


def test_a_champion_without_overlap_or_without_the_date_is_compared_on_the_whole_window(
    tmp_path, monkeypatch
):
    _x, y, day = _window_rows(10)
    scores = {"label": y, "fraud_score": np.zeros(len(y)), "event_date": day}
    assert trained_dates.unseen_days(_champion("2024-02-01T00:00:00+00:00"), scores) is None
    assert trained_dates.unseen_days(h.linear_ensemble(2.0), scores) is None  # older model
    no_dates = {k: v for k, v in scores.items() if k != "event_date"}
    assert trained_dates.unseen_days(_champion("2024-02-03T00:00:00+00:00"), no_dates) is None
    first, mask = trained_dates.unseen_days(_champion("2024-02-03T00:00:01+00:00"), scores)
    assert first == dt.date(2024, 2, 4) and mask.sum() == 20


def test_trained_through_is_the_end_of_the_last_window_the_weights_saw():
    w = [SimpleNamespace(end=dt.datetime(2024, 2, d, tzinfo=dt.UTC)) for d in (1, 8, 20)]
    splits = SimpleNamespace(windows=tuple(w))
    assert trained_dates.trained_through(splits, refit=True) == "2024-02-08T00:00:00+00:00"
    assert trained_dates.trained_through(splits, refit=False) == "2024-02-01T00:00:00+00:00"


def _old_champion(refit: bool):
    """A champion as `train` saved it before session 18: its training settings (refit on by
    default since session 10) in the metadata, no trained_through."""
    model = h.linear_ensemble(2.0)
    model.metadata.update({"training": {"refit": {"enabled": refit, "method": "warm_start"}}})
    return model


def _register_old(cfg, tmp_path, model, rows, window_end: dt.datetime | None):
    """`model` registered as champion v1 by the gate with its validation window ending at
    `window_end` (the gate.window_end tag), or without that tag (None)."""
    end = window_end or dt.datetime(2024, 2, 6)
    w = SimpleNamespace(start=end - dt.timedelta(days=5), end=end)
    X, y = rows
    with start_training_run(cfg, "champ") as tracker:
        ctx = gate.GateContext(
            cfg, h.NAMES, SimpleNamespace(validation=None, windows=(None, w, None)),
            evaluate_scores(y, model.predict_proba(X))["average_precision"], "features",
            rows=rows,
        )  # fmt: skip
        model_dir = model.save(tmp_path / "models" / "champ")
        out = lifecycle.register_and_gate(
            tracker, lifecycle.start_model_logging(tracker, model_dir, ctx)
        )
    assert out["decision"] == "champion"
    if window_end is None:
        mlflow.MlflowClient().delete_model_version_tag(
            cfg.registry.model_name, out["version"], "gate.window_end"
        )


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_an_old_refit_champion_is_compared_after_its_registered_window(tmp_path, monkeypatch,
                                                                       caplog):  # fmt: skip
    """Session 29 (upgrades): a champion of an older release refit on its validation window
    and does not say when. The same config and data retrained by the new code lost
    0.6524 vs 0.8765 (the champion scored on rows it learnt); the gate said nothing. Its
    registration's gate.window_end (its validation window's end date) now stands for its
    trained_through (a day later: the tag keeps no time)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    X, y, day = _window_rows()
    # its validation window ended on 2024-02-03: taken as trained through 02-04 00:00
    _register_old(cfg, tmp_path, _old_champion(refit=True), (X, y), dt.datetime(2024, 2, 3))
    with caplog.at_level("WARNING", logger="pipelines.training.lifecycle"):
        out, _ = _gate_new(cfg, tmp_path, X, y, day)
    late = day >= np.datetime64("2024-02-04")
    assert out["window"]["start"] == "2024-02-04", out
    assert out["window"]["champion_trained_through"] == "2024-02-04T00:00:00+00:00"
    assert out["champion_ap"] == pytest.approx(
        evaluate_scores(y[late], _old_champion(True).predict_proba(X[late]))["average_precision"]
    )
    assert out["decision"] == "champion"  # the new model ranks the late days' frauds
    [line] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert line.startswith("gate: champion v1 was saved by an older fraud-app that did not")
    assert "the day after its registration's gate.window_end 2024-02-03 (the date its" in line


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_an_old_refit_champion_of_the_same_window_is_not_compared(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    X, y, day = _window_rows()
    _register_old(cfg, tmp_path, _old_champion(refit=True), (X, y), dt.datetime(2024, 2, 6))
    out, _ = _gate_new(cfg, tmp_path, X, y, day)
    assert out["decision"] == "challenger" and out["champion_ap"] is None, out
    assert "not compared: champion v1 trained on this validation window" in out["reason"]


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_an_old_refit_champion_without_any_dates_is_not_compared(tmp_path, monkeypatch, capsys):
    """Without its registration's window either (a version registered by hand)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    X, y, day = _window_rows()
    _register_old(cfg, tmp_path, _old_champion(refit=True), (X, y), None)
    out, _ = _gate_new(cfg, tmp_path, X, y, day)
    assert out["decision"] == "challenger" and out["champion_version"] == "1", out
    assert out["champion_ap"] is None
    assert out["reason"].startswith(
        "not compared: champion v1 was saved by an older fraud-app that did not record the "
        "dates it trained on (no trained_through"
    ), out["reason"]
    assert "fraud-app promote VERSION" in out["reason"]
    _print_lifecycle({"registry": out}, h.config(tmp_path, **{"tracking.enabled": False}))
    printed = capsys.readouterr().err
    assert "fraud-ensemble v2 -> challenger (validation AP 0.1" in printed
    assert "; not compared: champion v1 was saved by an older fraud-app" in printed


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_an_old_champion_that_was_not_refit_is_compared_as_before(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    X, y, day = _window_rows()
    h.gate_on_rows(cfg, tmp_path, _old_champion(refit=False), "champ", (X, y))
    out, new_ap = _gate_new(cfg, tmp_path, X, y, day)
    assert out["champion_ap"] is not None and out["new_ap"] == pytest.approx(new_ap)
