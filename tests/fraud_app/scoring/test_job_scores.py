"""The batch scoring job's output: the scores training gave, the summary, the dates of the
range without transactions, reruns and the forms of the dates (real Spark, real files; the
model: the `trained` fixture of conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fraud_app.errors import ConfigError
from fraud_app.scoring.evaluate import run_evaluation
from fraud_app.scoring.job import run_scoring
from tests.fraud_app.scoring.job_data import mlflow_run, read_parquet, scores_partition

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_training_stores_scoring_metadata_and_member_columns(trained):
    meta = json.loads((Path(trained["model"]) / "ensemble.json").read_text())["metadata"]["scoring"]
    names = trained["report"]["feature_names"]
    assert meta["alert_budget"] == 0.01 and 0 < meta["threshold"] < 1
    assert len(meta["feature_means"]) == len(names)
    ref = meta["reference"]
    assert len(ref["feature_edges"]) == len(names) == len(ref["feature_props"])
    assert all(abs(sum(p) - 1) < 1e-9 for p in [*ref["feature_props"], ref["score_props"]])
    # the one-day baselines, from each sampled row's date (fraud_app.scoring.reference.day_psi)
    assert len(ref["feature_day_psi"]) == len(names) and "score_day_psi" in ref
    test = read_parquet(trained["root"] / "test-scores" / "r1")
    assert {"transaction_id", "card_id", "timestamp", "label", "fraud_score"} <= set(test.columns)
    np.testing.assert_allclose(test[["member_00", "member_01"]].mean(axis=1), test["fraud_score"])
    c4 = json.loads(Path(trained["report"]["evaluations"]["test"]).read_text())
    assert c4["roc_auc"] == trained["report"]["metrics"]["test"]["roc_auc"]
    assert c4["card_precision_at_k"]["per_day"] and "pattern_recall" in c4
    # the report's daily-budget recall is the evaluation's (`run` ends with it)
    daily = next(b for b in c4["alert_budgets"] if b["budget"] == 0.01)["recall"]
    assert trained["report"]["metrics"]["test"]["recall_at_budget"] == daily
    validation = json.loads(Path(trained["report"]["evaluations"]["validation"]).read_text())
    refit = trained["report"]["refit"] is not None
    assert (validation["before_refit"], c4["before_refit"]) == (refit, False)


def _features_mode(config, mode: str):
    return config.model_copy(
        update={"scoring": config.scoring.model_copy(update={"features": mode})}
    )


@pytest.mark.parametrize("mode", ["recompute", "auto"])
def test_scores_equal_training_test_scores_with_alerts_and_reasons(spark, trained, mode):
    # recompute: the job's own point-in-time features from the canonical history give the
    # bits training scored; auto: the feature table is current, so the job reads its rows
    config, day = _features_mode(trained["config"], mode), trained["day"]
    result = run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    source = json.loads(Path(result.summary_path).read_text())["features_source"]
    assert source["source"] == {"recompute": "computed", "auto": "feature_table"}[mode]
    got = read_parquet(scores_partition(trained["root"], day)).set_index("transaction_id")
    ref = read_parquet(trained["root"] / "test-scores" / "r1").set_index("transaction_id")
    assert len(got) > 0 and set(got.index) <= set(ref.index)
    # the same bits: the fused plan scores a row alike at any offset of any batch
    np.testing.assert_array_equal(got["fraud_score"], ref.loc[got.index, "fraud_score"])
    meta = json.loads((Path(trained["model"]) / "ensemble.json").read_text())["metadata"]
    assert (got["alert"] == (got["fraud_score"] >= meta["scoring"]["threshold"])).all()
    names = set(trained["report"]["feature_names"])
    for col in ("reason_1", "reason_2", "reason_3"):  # null: fewer features raised the score
        assert set(got[col].dropna()) <= names
    both = got["reason_2"].notna()
    assert (got.loc[both, "reason_1"] != got.loc[both, "reason_2"]).all()
    assert (got["reason_1"].notna() | got["reason_2"].isna()).all()
    assert set(got["model_name"]) == {"r1"} and set(got["model_version"]) == {"local"}
    summary = json.loads(Path(result.summary_path).read_text())
    # the rows that set the threshold travel with it into the summary
    assert summary["threshold_rows"] == meta["scoring"]["threshold_rows"]
    (entry,) = summary["dates"]
    assert entry["date"] == str(day) and entry["rows"] == len(got)
    assert entry["alerts"] == int(got["alert"].sum()) and sum(entry["score_counts"]) == len(got)
    assert set(entry["features"]) == names
    assert all(sum(f["counts"]) == len(got) for f in entry["features"].values())
    assert not (trained["root"] / "scores" / "_staging").exists()
    run = mlflow_run(trained["root"], f"scoring-{result.job_id}")  # logged to MLflow too
    assert run.data.tags["fraud_app.kind"] == "scoring" and run.data.params["start"] == str(day)
    assert run.data.metrics["rows"] == len(got) and run.data.metrics["alerts"] == entry["alerts"]


def test_dates_of_the_range_without_transactions_are_named(spark, trained, caplog):
    # a scheduler's range ahead of the deliveries: the job succeeded listing only the dates
    # it found, so "no rows yet" read like "a quiet day"
    config, day = trained["config"], trained["day"]
    later = [str(day + dt.timedelta(days=i)) for i in (1, 2)]
    # an earlier job's partition of a date that has no transactions any more: kept, named
    earlier = scores_partition(trained["root"], later[1])
    earlier.mkdir(parents=True)
    try:
        with caplog.at_level("WARNING", logger="fraud_app.scoring.dates"):
            result = run_scoring(
                spark, config, start=day, end=day + dt.timedelta(days=2),
                model_uri=trained["model"],
            )  # fmt: skip
        assert earlier.is_dir()
    finally:
        shutil.rmtree(earlier)
    assert [Path(p).name for p in result.summary["earlier_partitions_kept"]] == [earlier.name]
    assert (
        f"keep an earlier job's scores partition: {result.summary['earlier_partitions_kept'][0]}"
        in caplog.text
    )
    assert [d["date"] for d in result.summary["dates"]] == [str(day)]
    assert result.summary["dates_without_rows"] == later
    assert json.loads(Path(result.summary_path).read_text())["dates_without_rows"] == later
    assert "2 date(s) have no transactions in the canonical table" in caplog.text
    assert ", ".join(later) in caplog.text
    assert not scores_partition(trained["root"], later[0]).exists()
    # evaluate names them the same way (its `days` counted only the dates with rows)
    report, _ = run_evaluation(spark, config, model_uri=trained["model"], start=day,
                               end=day + dt.timedelta(days=2), name="past-the-data")  # fmt: skip
    assert report["dates_without_rows"] == later and report["days"] == 1


def test_a_range_from_the_first_day_of_the_calendar_scores_its_dates(spark, trained):
    # 0001-01-01: Spark's date literal failed (Py4J, no message) and the history's start
    # (the range's start minus the longest window) overflowed Python's datetime
    config, day = trained["config"], trained["day"]
    first = dt.date(1, 1, 1)
    result = run_scoring(spark, config, start=first, end=day, model_uri=trained["model"])
    scored = [d["date"] for d in result.summary["dates"]]
    assert str(day) in scored
    assert result.summary["days_without_rows"] == (day - first).days + 1 - len(scored)
    assert len(result.summary["dates_without_rows"]) == 366  # the first of them, listed
    assert result.summary["dates_without_rows"][0] == "0001-01-01"


def test_a_date_scored_twice_gives_identical_files(spark, trained):
    config, day = trained["config"], trained["day"]
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    first = {
        p.name: read_parquet(p).drop(columns="scored_at")
        for p in scores_partition(trained["root"], day).glob("*.parquet")
    }
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    second = list(scores_partition(trained["root"], day).glob("*.parquet"))
    assert len(first) == len(second) == 1  # one sorted file per date: reruns compare row for row
    (a,), b = first.values(), read_parquet(second[0]).drop(columns="scored_at")
    assert a.equals(b)


def test_python_callers_may_give_the_dates_as_iso_text_or_datetimes(spark, trained):
    """As run_evaluation takes them: ISO text failed deep inside the job (a TypeError of
    date arithmetic on a str), a datetime too (compared with a date)."""
    config, day = trained["config"], trained["day"]
    by_date = run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    by_text = run_scoring(spark, config, start=str(day), end=str(day), model_uri=trained["model"])
    noon = dt.datetime.combine(day, dt.time(12))
    by_time = run_scoring(spark, config, start=noon, end=noon, model_uri=trained["model"])
    assert by_text.summary["dates"] == by_date.summary["dates"] == by_time.summary["dates"]
    with pytest.raises(ConfigError, match=r"start must be a date \(datetime.date or text like "
                       r"2024-01-31\). Received: '31/01/2024'"):  # fmt: skip
        run_scoring(spark, config, start="31/01/2024", end=day, model_uri=trained["model"])
