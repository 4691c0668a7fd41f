"""The alerts of `score` against the budget of the config, the summary and `evaluate`
(session 35 probe, docs/PROBES.md).

`score` alerts at the threshold stored with the model (set at training for the model's
`scoring.alert_budget`); a budget changed in the config afterwards (5 % for a model
trained at 1 %) changed nothing and no line said so. One module fixture: generate -> etl
-> features on a small data set and a hand-made model (no training). Real Spark, real files.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fraud_app.config import load_config
from fraud_app.data.generator import generate_raw, write_raw
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from fraud_app.scoring.evaluate import run_evaluation
from fraud_app.scoring.job import run_scoring
from fraud_app.scoring.reference import bin_counts
from tests.fraud_app.scoring.table_model import table_model

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]
SPECS = ("card_velocity.yaml", "transaction.yaml")


@pytest.fixture(scope="module")
def project(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("score-budget")
    config = load_config(ROOT / "configs" / "demo.yaml", {
        "paths.root": str(root), "features.spec_dir": str(ROOT / "feature_specs"),
        "features.spec_files": list(SPECS), "generate.n_transactions": 2_000,
        "generate.n_cards": 120, "generate.n_merchants": 30, "generate.days": 20,
        "generate.fraud_rate": 0.05, "generate.partitions": 1, "generate.dirty_fraction": 0.0,
        "tracking.enabled": False,
    })  # fmt: skip
    write_raw(generate_raw(spark, config.generate), str(root / "raw"), config.generate.format)
    run_etl(spark, config)
    build_feature_table(spark, config)
    table = pq.read_table(str(config.feature_table())).to_pandas()
    model, names = table_model(config, root / "model")
    days = sorted(p.name.split("=", 1)[1] for p in (root / "features").glob("event_date=*"))
    return {"config": config, "model": model, "days": days, "table": table, "names": names}


def _with_budget(config, budget: float, out: Path):
    scoring = config.scoring.model_copy(update={"alert_budget": budget, "output": str(out)})
    return config.model_copy(update={"scoring": scoring})


def _budget_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "scoring.alert_budget is" in r.getMessage()]


def test_a_budget_changed_after_training_is_named_and_the_stored_threshold_alerts(
    spark, project, tmp_path, caplog
):
    config, days = project["config"], project["days"]
    start, end = days[-3], days[-1]
    caplog.set_level(logging.WARNING, logger="fraud_app.scoring.reference")
    result = run_scoring(spark, _with_budget(config, 0.05, tmp_path / "a"), start=start,
                         end=end, model_uri=project["model"])  # fmt: skip
    threshold = result.summary["threshold"]
    (line,) = _budget_lines(caplog)
    assert line.startswith(
        f"scoring.alert_budget is 0.05, but model {project['model']} alerts at its stored "
        f"threshold {threshold:.6g}, set at training for the budget 0.01"
    ), line
    assert "Train again with scoring.alert_budget 0.05" in line
    assert result.summary["alert_budget"] == 0.01
    scores = pq.read_table(str(tmp_path / "a")).to_pandas()
    assert (scores["alert"] == (scores["fraud_score"] >= threshold)).all()

    caplog.clear()
    run_scoring(spark, _with_budget(config, 0.01, tmp_path / "b"), start=start, end=end,
                model_uri=project["model"])  # fmt: skip
    assert _budget_lines(caplog) == []


def test_the_summary_and_evaluate_agree_with_the_written_scores(spark, project, tmp_path):
    # checked (no defect): rows, alerts, mean score, score histogram, feature means per
    # date against pandas on the written scores and the feature table; `evaluate`'s
    # model_threshold against the alert column on the same window
    config, days, names = project["config"], project["days"], project["names"]
    start, end = days[-4], days[-1]
    config = _with_budget(config, 0.01, tmp_path / "scores")
    result = run_scoring(spark, config, start=start, end=end, model_uri=project["model"])
    scores = pq.read_table(str(tmp_path / "scores")).to_pandas()
    scores["event_date"] = scores["event_date"].astype(str)
    table = project["table"].copy()
    table["event_date"] = table["event_date"].astype(str)
    joined = scores.merge(table[["transaction_id", "label", *names]], on="transaction_id")
    assert len(joined) == len(scores)
    edges = result.summary["reference"]["score_edges"]
    for entry in result.summary["dates"]:
        day = joined[joined["event_date"] == entry["date"]]
        assert entry["rows"] == len(day) and entry["alerts"] == int(day["alert"].sum())
        assert math.isclose(entry["mean_score"], day["fraud_score"].mean(), rel_tol=1e-12)
        assert entry["score_counts"] == bin_counts(day["fraud_score"].to_numpy(), edges).tolist()
        for name in names:  # the model's float32 inputs
            mean = day[name].astype(np.float32).astype(np.float64).mean()
            assert math.isclose(entry["features"][name]["mean"], mean, rel_tol=1e-12), name
    report, _ = run_evaluation(spark, config, model_uri=project["model"], start=start, end=end)
    per_day = joined.groupby("event_date")["alert"].sum()
    figures = report["model_threshold"]
    assert figures["alerts"] == int(per_day.sum())
    assert (figures["alerts_per_day_min"], figures["alerts_per_day_max"]) == (
        int(per_day.min()), int(per_day.max()))  # fmt: skip
    caught = float(joined.loc[joined["alert"], "label"].sum())
    assert figures["alerts"] > 0 and figures["precision"] == caught / figures["alerts"]
