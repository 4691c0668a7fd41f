"""`evaluate` of the training run's test window: the C4 report, its MLflow run, and the
figures training computed (the `trained` fixture of conftest.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.evaluate import run_evaluation
from tests.fraud_app.scoring.job_data import mlflow_run

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_evaluate_any_window_writes_c4(spark, trained):
    test = trained["report"]["splits"]["windows"]["test"]
    start = dt.datetime.fromisoformat(test["start"]).date()
    report, path = run_evaluation(spark, trained["config"], model_uri=trained["model"], start=start,
                                  end=trained["day"], name="t")  # fmt: skip
    assert path.name == "evaluation-t.json" and json.loads(path.read_text()) == report
    run = mlflow_run(trained["root"], "evaluation-t")  # logged to MLflow too
    assert run.data.metrics["roc_auc"] == pytest.approx(report["roc_auc"])
    assert run.data.params["window_end"] == str(trained["day"])
    assert report["rows"] == trained["report"]["metrics"]["test"]["rows"]
    assert report["roc_auc"] == pytest.approx(
        trained["report"]["metrics"]["test"]["roc_auc"], abs=1e-9
    )
    assert [b["budget"] for b in report["alert_budgets"]] == [0.001, 0.005, 0.01]
    assert len(report["card_precision_at_k"]["per_day"]) == report["days"] == 3
    stored = FraudEnsemble.load(trained["model"]).metadata["scoring"]["threshold"]
    mine = report["model_threshold"]  # what `score` alerts on this window
    assert mine["threshold"] == stored and mine["alerts_per_day_min"] <= mine["alerts_per_day_max"]
    assert mine["alerts"] == round(mine["alerts_per_day"] * report["days"])
    assert set(report["pattern_recall"]) <= {
        "compromised_merchant",
        "stolen_card",
        "card_testing",
        "account_takeover",
    }
