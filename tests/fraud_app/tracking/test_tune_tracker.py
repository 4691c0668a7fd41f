"""`fraud-app tune`'s MLflow hook on a real MLflow store (sqlite in a temp dir)."""

from __future__ import annotations

import pytest

from fraud_app.errors import TrackingError
from fraud_app.tracking.client import client
from fraud_app.tracking.tune import TuneTracker, tune_tracker
from pipelines.tune.pipeline import NullTracker, tracker_for
from tests.fraud_app.tracking import helpers as h


@pytest.fixture(autouse=True)
def _own_store(monkeypatch):
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI: each test uses its tmp store
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _search(tracker, points_aps):
    with tracker.parent("tune-t1", {"method": "grid", "trials": len(points_aps)}):
        for i, (point, ap) in enumerate(points_aps):
            tracker.trial(i, point, {"validation_average_precision": ap, "validation_roc_auc": 0.9})


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_each_trial_is_a_nested_run_under_one_parent(tmp_path):
    tracker = tune_tracker(h.config(tmp_path))
    assert isinstance(tracker, TuneTracker)
    points = [
        ({"hidden": (64, 32), "dropout": 0.1, "loss": "bce"}, 0.41),
        ({"hidden": (128, 64), "dropout": 0.3, "loss": "focal"}, 0.57),
        ({"hidden": (32,), "dropout": 0.0, "loss": "bce"}, float("nan")),  # no frauds: skipped
    ]
    _search(tracker, points)
    mc = client(tracker.store.uri)
    parent = mc.get_run(tracker.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["fraud_app.kind"] == "tune"
    assert parent.data.params["method"] == "grid"
    assert parent.data.params["best_trial"] == "1"
    assert parent.data.params["best_hidden"] == "[128, 64]"
    assert parent.data.metrics["best_validation_average_precision"] == pytest.approx(0.57)
    children = mc.search_runs(
        [tracker.store.experiment_id], f"tags.mlflow.parentRunId = '{tracker.run_id}'"
    )
    assert sorted(r.info.run_id for r in children) == sorted(tracker.trial_run_ids)
    by_name = {r.info.run_name: r for r in children}
    assert sorted(by_name) == ["trial-000", "trial-001", "trial-002"]
    second = by_name["trial-001"].data
    assert second.tags["fraud_app.kind"] == "tune_trial"
    assert second.params == {"hidden": "[128, 64]", "dropout": "0.3", "loss": "focal"}
    assert second.metrics["validation_average_precision"] == pytest.approx(0.57)
    assert "validation_average_precision" not in by_name["trial-002"].data.metrics


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_failing_search_marks_the_parent_failed(tmp_path):
    tracker = tune_tracker(h.config(tmp_path))
    with (
        pytest.raises(RuntimeError, match="trial exploded"),
        tracker.parent("tune-t2", {"method": "random", "trials": 2}),
    ):
        tracker.trial(0, {"dropout": 0.1}, {"validation_average_precision": 0.3})
        raise RuntimeError("trial exploded")
    assert client(tracker.store.uri).get_run(tracker.run_id).info.status == "FAILED"


def test_tracking_off_gives_the_no_op_tracker(tmp_path):
    cfg = h.config(tmp_path, **{"tracking.enabled": False})
    assert tune_tracker(cfg) is None
    assert isinstance(tracker_for(cfg), NullTracker)
    assert not (tmp_path / "mlflow.db").exists()  # tracking off opens no store
    assert isinstance(tracker_for(h.config(tmp_path)), TuneTracker)
    assert (tmp_path / "mlflow.db").exists()


def test_unreachable_store_is_a_clear_error(tmp_path):
    cfg = h.config(tmp_path, **{"tracking.uri": "http://127.0.0.1:9",
                                "tracking.connect_timeout_s": 1})  # fmt: skip
    with pytest.raises(TrackingError, match="cannot be reached"):
        tune_tracker(cfg)
