"""The batch scoring job and `evaluate` on a small generated data set: real Spark, real files.

One module fixture runs generate -> etl -> features -> train once (tiny model); each test
scores or evaluates against it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from pyspark.sql import functions as F

from dlcore.serialization import seal
from fraud_app.config import load_config
from fraud_app.data.generator import generate_raw, write_raw
from fraud_app.errors import ConfigError, EmptyInputError, ModelLoadError, ScoringInputError
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.evaluate import run_evaluation
from fraud_app.scoring.job import run_scoring
from pipelines.training.pipeline import run_training
from tests.processes import held_in_child, kill_group_when

pytestmark = [pytest.mark.spark, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
OVERRIDES = {
    "generate.n_transactions": 6_000,
    "generate.n_cards": 800,
    "generate.n_merchants": 200,
    "generate.days": 40,
    "generate.fraud_rate": 0.02,
    "generate.partitions": 2,
    "generate.dirty_fraction": 0.0,
    "splits.test_days": 3,
    "splits.validation_days": 3,
    "balancing.unionpay_subsets.n_subsets": 2,
    "training.distributed.iterations": 30,
    "training.distributed.epochs": None,
    "training.distributed.global_batch_size": 64,
    "training.model.hidden": [8],
    "training.checkpoint": False,
    "scoring.reference_rows": 2_000,
}


def _config(root: Path, **more):
    return load_config(ROOT / "configs" / "demo.yaml", {
        **OVERRIDES, "paths.root": str(root), "features.spec_dir": str(ROOT / "feature_specs"), **more,
    })  # fmt: skip


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("scoring")
    config = _config(root)
    write_raw(generate_raw(spark, config.generate), str(root / "raw"), config.generate.format)
    run_etl(spark, config)
    build_feature_table(spark, config)
    report = run_training(spark, config, run="r1")
    training = json.loads(Path(report.report_path).read_text())
    test = training["splits"]["windows"]["test"]
    last_day = (dt.datetime.fromisoformat(test["end"]) - dt.timedelta(days=1)).date()
    return {"config": config, "root": root, "model": report.model_path, "report": training,
            "day": last_day}  # fmt: skip


def _partition(root: Path, day) -> Path:
    return root / "scores" / f"event_date={day}"


def _read(path: Path):
    return pq.read_table(str(path)).to_pandas()


def _mlflow_run(root: Path, run_name: str):
    """The MLflow run a job logged (exactly one of that name) in the embedded store."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    [run] = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"attributes.run_name = '{run_name}'",
    )
    return run


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
    test = _read(trained["root"] / "test-scores" / "r1")
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
    got = _read(_partition(trained["root"], day)).set_index("transaction_id")
    ref = _read(trained["root"] / "test-scores" / "r1").set_index("transaction_id")
    assert len(got) > 0 and set(got.index) <= set(ref.index)
    # the same bits: the fused plan scores a row alike at any offset of any batch
    np.testing.assert_array_equal(got["fraud_score"], ref.loc[got.index, "fraud_score"])
    meta = json.loads((Path(trained["model"]) / "ensemble.json").read_text())["metadata"]
    assert (got["alert"] == (got["fraud_score"] >= meta["scoring"]["threshold"])).all()
    names = set(trained["report"]["feature_names"])
    for col in ("reason_1", "reason_2", "reason_3"):
        assert set(got[col]) <= names
    assert (got["reason_1"] != got["reason_2"]).all()
    assert set(got["model_name"]) == {"r1"} and set(got["model_version"]) == {"local"}
    summary = json.loads(Path(result.summary_path).read_text())
    (entry,) = summary["dates"]
    assert entry["date"] == str(day) and entry["rows"] == len(got)
    assert entry["alerts"] == int(got["alert"].sum()) and sum(entry["score_counts"]) == len(got)
    assert set(entry["features"]) == names
    assert all(sum(f["counts"]) == len(got) for f in entry["features"].values())
    assert not (trained["root"] / "scores" / "_staging").exists()
    run = _mlflow_run(trained["root"], f"scoring-{result.job_id}")  # logged to MLflow too
    assert run.data.tags["fraud_app.kind"] == "scoring" and run.data.params["start"] == str(day)
    assert run.data.metrics["rows"] == len(got) and run.data.metrics["alerts"] == entry["alerts"]


def test_dates_of_the_range_without_transactions_are_named(spark, trained, caplog):
    # a scheduler's range ahead of the deliveries: the job succeeded listing only the dates
    # it found, so "no rows yet" read like "a quiet day"
    config, day = trained["config"], trained["day"]
    later = [str(day + dt.timedelta(days=i)) for i in (1, 2)]
    # an earlier job's partition of a date that has no transactions any more: kept, named
    earlier = _partition(trained["root"], later[1])
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
    assert not _partition(trained["root"], later[0]).exists()
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
        p.name: _read(p).drop(columns="scored_at")
        for p in _partition(trained["root"], day).glob("*.parquet")
    }
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    second = list(_partition(trained["root"], day).glob("*.parquet"))
    assert len(first) == len(second) == 1  # one sorted file per date: reruns compare row for row
    (a,), b = first.values(), _read(second[0]).drop(columns="scored_at")
    assert a.equals(b)


def test_feature_name_mismatch_names_missing_and_extra(spark, trained, tmp_path):
    model = tmp_path / "renamed"
    shutil.copytree(trained["model"], model)
    spec = json.loads((model / "ensemble.json").read_text())
    spec["feature_names"][0] = "card_velocity_9y"
    (model / "ensemble.json").write_text(json.dumps(seal(spec)))  # renamed, not damaged
    real = trained["report"]["feature_names"][0]
    day = trained["day"]
    with pytest.raises(
        ScoringInputError,
        match=rf"missing from the specs \['card_velocity_9y'\].*extra in the specs \['{real}'\]",
    ):
        run_scoring(spark, trained["config"], start=day, end=day, model_uri=str(model))


def test_bad_requests_fail_with_one_clear_error(spark, trained, tmp_path):
    config, day, model = trained["config"], trained["day"], trained["model"]
    with pytest.raises(ConfigError, match="empty date range"):
        run_scoring(spark, config, start=day, end=day - dt.timedelta(days=1), model_uri=model)
    far = day + dt.timedelta(days=400)
    with pytest.raises(EmptyInputError, match=f"no transactions dated {far}..{far}"):
        run_scoring(spark, config, start=far, end=far, model_uri=model)
    with pytest.raises(ModelLoadError, match="does not exist"):
        run_scoring(spark, config, start=day, end=day, model_uri=str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="holds no ensemble.json"):
        run_scoring(spark, config, start=day, end=day, model_uri=str(tmp_path))
    missing = _config(tmp_path, **{"features.input": str(tmp_path / "no-canonical")})
    with pytest.raises(EmptyInputError, match="canonical table .*no-canonical does not exist; "
                       "run `fraud-app etl` first"):  # fmt: skip
        run_scoring(spark, missing, start=day, end=day, model_uri=model)


def test_evaluate_any_window_writes_c4(spark, trained):
    test = trained["report"]["splits"]["windows"]["test"]
    start = dt.datetime.fromisoformat(test["start"]).date()
    report, path = run_evaluation(spark, trained["config"], model_uri=trained["model"], start=start,
                                  end=trained["day"], name="t")  # fmt: skip
    assert path.name == "evaluation-t.json" and json.loads(path.read_text()) == report
    run = _mlflow_run(trained["root"], "evaluation-t")  # logged to MLflow too
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


def test_a_retry_with_the_killed_jobs_id_scores(spark, trained):
    """The retry's write met the killed run's `new` and stopped with Spark's
    PATH_ALREADY_EXISTS (a JVM trace, exit 1) on every retry of that id."""
    config, day, root = trained["config"], trained["day"], trained["root"]
    left = root / "scores" / "_staging" / "airflow-1" / "new" / f"event_date={day}"
    left.mkdir(parents=True)
    (left / "part-00000-dead.parquet").write_text("half a file of the killed run")
    result = run_scoring(spark, config, start=day, end=day, model_uri=trained["model"],
                         job_id="airflow-1")  # fmt: skip
    assert result.summary["dates"][0]["rows"] > 0
    assert not (root / "scores" / "_staging").exists()
    assert len(_read(_partition(root, day))) == result.summary["dates"][0]["rows"]


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


def test_killed_job_leaves_the_previous_partition_intact(spark, trained, tmp_path):
    config, day, root = trained["config"], trained["day"], trained["root"]
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    before = _read(_partition(root, day)).drop(columns="scored_at")
    cfg = tmp_path / "cfg.yaml"
    data = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    data["paths"]["root"] = str(root)
    data["features"]["spec_dir"] = str(ROOT / "feature_specs")
    cfg.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pipelines.cli", "-c", str(cfg), "--log-level", "WARNING",
           "score", "--date", str(day), "--model", trained["model"], "--job-id", "killed"]  # fmt: skip
    log = (tmp_path / "score.log").open("w")
    # its own process group: the kill takes the job's JVM too, as a scheduler killing the
    # job's container would (a JVM left running could still write a task's file into
    # _staging after the clean-up below)
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    staging = root / "scores" / "_staging" / "killed" / "new"
    killed_mid_write = kill_group_when(proc, staging.exists, poll=0.02, wait=30)
    log.close()
    tail = (tmp_path / "score.log").read_text()[-3000:]
    assert killed_mid_write, f"the job ended before its write started; nothing was tested:\n{tail}"
    after = _read(_partition(root, day)).drop(columns="scored_at")
    assert after.equals(before)  # readable, complete, the previous content
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])  # cleans up
    assert not (root / "scores" / "_staging").exists()


def test_a_second_job_on_the_same_output_is_refused(spark, trained):
    """Two jobs on one output (a scheduler's retry beside a slow run, a parallel backfill):
    the second one's recover() took the first one's staging for a dead job's and deleted
    it (its write then failed or lost files), or restored a date the first one was
    swapping. Now it is refused, naming the holder, and touches nothing."""
    from fraud_app.errors import ConcurrentRunError

    config, day, root = trained["config"], trained["day"], trained["root"]
    out = root / "scores"
    running = out / "_staging" / "running-job" / "new" / "event_date=2024-01-02"
    running.mkdir(parents=True)
    (running / "part-0.parquet").write_text("being written")
    lock = f"from fraud_app.scoring.partitions import output_lock\noutput_lock({str(out)!r})"
    with held_in_child(lock) as proc:
        with pytest.raises(ConcurrentRunError, match=f"writing to {out}: score \\(pid {proc.pid}"):
            run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
        assert (running / "part-0.parquet").read_text() == "being written"
    shutil.rmtree(out / "_staging")
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])  # lock released
    assert not (out / ".fraud-app.lock").exists()


def test_a_feature_spec_changed_under_the_same_name_is_refused(spark, trained, tmp_path):
    """time_since_previous's cap 30d -> 7d keeps the name card_seconds_since_prev: the job
    scored the new values with the model trained on the old ones, exit 0."""
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "feature_specs", specs)
    velocity = specs / "card_velocity.yaml"
    assert "    cap: 30d\n" in velocity.read_text()
    velocity.write_text(velocity.read_text().replace("    cap: 30d\n", "    cap: 7d\n"))
    config = _config(trained["root"], **{"features.spec_dir": str(specs)})
    day = trained["day"]
    stored = FraudEnsemble.load(trained["model"]).metadata["features"]["definitions"]
    assert stored["card_seconds_since_prev"]["cap"] == "30d"
    with pytest.raises(
        ScoringInputError,
        match=r"definition of 1 of the model's features changed .*: card_seconds_since_prev "
        r"\(cap: '30d' -> '7d'\)",
    ):
        run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])


def test_a_day_delivered_without_labels_scores_as_with_them(spark, trained, tmp_path):
    # production: a day's transactions arrive before their fraud is confirmed; the ETL
    # publishes them unlabelled and the job scores them, with the scores the same rows get
    # once labelled (no label of the scored day, nor later, reaches its features)
    config, day = trained["config"], trained["day"]
    raw = spark.read.option("header", True).csv(str(trained["root"] / "raw"))
    from_day = raw["ts"].substr(1, 10) >= str(day)
    blank = {c: F.when(~from_day, F.col(c)) for c in ("is_fraud", "label_ts")}
    raw.withColumns(blank).write.option("header", True).csv(str(tmp_path / "raw"))
    unlabelled = _config(tmp_path)
    etl = run_etl(spark, unlabelled)
    assert etl.unlabelled_rows == raw.filter(from_day).count() > 0
    assert etl.quarantine_rows == 0
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    run_scoring(spark, unlabelled, start=day, end=day, model_uri=trained["model"])
    labelled = _read(_partition(trained["root"], day)).set_index("transaction_id")
    got = _read(_partition(tmp_path, day)).set_index("transaction_id")
    assert len(got) == len(labelled) > 0 and set(got.index) == set(labelled.index)
    # to the bit: a row's score does not depend on its place in a batch (dlcore.inference)
    np.testing.assert_array_equal(got["fraud_score"], labelled.loc[got.index, "fraud_score"])


def test_amounts_beyond_the_training_range_are_named_counted_and_warned(
    spark, trained, tmp_path, caplog
):
    """Session 19 probe: amounts of 9e9 (training: thousands) scored high, but none of
    their reasons named an amount feature (the input is clipped after standardisation and
    the raw-input gradient is 0 there), and `score` said nothing about the range."""
    import logging

    day = trained["day"]
    raw = spark.read.option("header", True).csv(str(trained["root"] / "raw"))
    big = (raw["ts"].substr(1, 10) == str(day)) & (F.crc32(raw["txn_id"]) % 5 == 0)
    raw.withColumn("amt", F.when(big, F.lit("9000000000")).otherwise(raw["amt"])).write.option(
        "header", True
    ).csv(str(tmp_path / "raw"))
    big_ids = {r[0] for r in raw.filter(big).select("txn_id").collect()}
    far = _config(tmp_path)
    run_etl(spark, far)
    with caplog.at_level(logging.WARNING, logger="fraud_app.scoring.job"):
        result = run_scoring(spark, far, start=day, end=day, model_uri=trained["model"])
    got = _read(_partition(tmp_path, day)).set_index("transaction_id")
    rows = got.loc[got.index.astype(str).isin(big_ids)]
    assert len(rows) == len(big_ids) > 0
    reasons = rows[["reason_1", "reason_2", "reason_3"]].astype(str)
    named = reasons.apply(lambda r: any("amount" in v for v in r), axis=1)
    assert named.mean() >= 0.9, reasons.head()
    summary = json.loads(Path(result.summary_path).read_text())
    beyond = summary["out_of_range"]
    amount = [n for n in beyond if "amount" in n]
    assert amount and max(beyond[n]["above"] for n in amount) >= len(rows)
    assert all(beyond[n]["rows"] == beyond[n]["below"] + beyond[n]["above"] > 0 for n in beyond)
    (entry,) = summary["dates"]
    for name, counts in beyond.items():
        assert entry["features"][name]["above_range"] == counts["above"]
        assert counts["low"] < counts["high"]
    (line,) = [r.getMessage() for r in caplog.records if "training range" in r.getMessage()]
    (top, counts), *_ = sorted(beyond.items(), key=lambda kv: (-kv[1]["rows"], kv[0]))
    assert "amount" in top and f": {top} {counts['rows']}" in line  # the most rows first
    assert f"of {len(beyond)} feature(s)" in line


def test_a_stale_or_differently_built_feature_table_is_not_read(spark, trained, tmp_path, caplog):
    # the table stands in for the job's features only while it is current: a copy whose
    # record of a definition differs from the specs, or a canonical table rewritten since
    config, day = trained["config"], trained["day"]
    copy = tmp_path / "features"
    shutil.copytree(trained["root"] / "features", copy)
    meta_path = copy / "_features.json"
    meta = json.loads(meta_path.read_text())
    name = trained["report"]["feature_names"][0]
    entry = next(f for f in meta["features"] if f["name"] == name)
    entry["kind"] += "_edited"
    meta_path.write_text(json.dumps(meta))
    (copy / f".{meta_path.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of the old text
    (copy / "_files.json").unlink()  # as another build wrote it: no record of the edit
    moved = config.model_copy(
        update={"paths": config.paths.model_copy(update={"features": str(copy)})}
    )
    caplog.set_level("INFO", logger="fraud_app.scoring.job")
    result = run_scoring(spark, moved, start=day, end=day, model_uri=trained["model"])
    source = json.loads(Path(result.summary_path).read_text())["features_source"]
    assert source["source"] == "computed" and name in source["why_computed"]
    assert "features computed: not read from the feature table, as the specs changed" in caplog.text
    # the canonical table rewritten after `features`: a partition's file under a new name
    # (what an etl or labels run gives; the same rows, so the other tests see no change)
    part = next((trained["root"] / "canonical").glob("event_date=*/part-*.parquet"))
    renamed = part.with_name("part-99999-rewritten.parquet")
    record = trained["root"] / "canonical" / "_files.json"  # as the rewrite records it
    written = record.read_text()
    part.rename(renamed)
    # one partition's entry: Spark gives each partition's file of one write the same name
    here = f"{part.parent.name}/{part.name}"
    assert written.count(here) == 1
    record.write_text(written.replace(here, f"{part.parent.name}/{renamed.name}"))
    record.with_name("._files.json.crc").unlink(missing_ok=True)
    try:
        result = run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    finally:
        renamed.rename(part)
        record.write_text(written)
    source = json.loads(Path(result.summary_path).read_text())["features_source"]
    assert source["source"] == "computed" and "rewritten" in source["why_computed"]
    # no reader left registered by this process (a job an earlier test killed may have left
    # its own registration there: stale, ignored by writers)
    readers = trained["root"] / ".fraud-app.readers"
    left = sorted(readers.glob(f"{os.getpid()}-*")) if readers.exists() else []
    assert left == []


def test_an_outage_in_the_history_of_a_scored_date_is_named(spark, trained, tmp_path, caplog):
    # session 29: the two deliveries before the scored date never came; its window features
    # counted fewer transactions (other scores) and the job said nothing of it
    config, day = trained["config"], trained["day"]
    raw = spark.read.option("header", True).csv(str(trained["root"] / "raw"))
    lost = [str(day - dt.timedelta(days=i)) for i in (2, 1)]
    raw.where(~raw["ts"].substr(1, 10).isin(lost)).write.option("header", True).csv(
        str(tmp_path / "raw")
    )
    outage = _config(tmp_path)
    run_etl(spark, outage)
    with caplog.at_level("WARNING", logger="fraud_app.scoring.history"):
        result = run_scoring(spark, outage, start=day, end=day, model_uri=trained["model"])
    history = result.summary["history"]
    assert [d["date"] for d in history["incomplete_dates"]] == lost
    assert all(d["rows"] == 0 and d["usual"] > 50 for d in history["incomplete_dates"])
    assert history["lookback_days"] == 37 and history["data_starts"] is None
    assert json.loads(Path(result.summary_path).read_text())["history"] == history
    assert (
        f"score {day}..{day}: the history its window features read (37 days, from "
        f"{day - dt.timedelta(days=37)}) holds 2 incomplete date(s)" in caplog.text
    )
    assert f"{lost[0]}..{lost[1]} (2 dates, no rows)" in caplog.text
    # what it meant: other scores for the same transactions
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    complete = _read(_partition(trained["root"], day)).set_index("transaction_id")
    got = _read(_partition(tmp_path, day)).set_index("transaction_id")
    assert set(got.index) == set(complete.index)
    assert (got["fraud_score"] != complete.loc[got.index, "fraud_score"]).mean() > 0.2
    # evaluate of that date on the outage's feature table names them too (it said nothing)
    build_feature_table(spark, outage)
    with caplog.at_level("WARNING", logger="fraud_app.scoring.evaluate"):
        report, _ = run_evaluation(spark, outage, model_uri=trained["model"], start=day, end=day,
                                   name="outage")  # fmt: skip
    assert [d["date"] for d in report["incomplete_history_dates"]] == lost
    assert f"evaluate {day}..{day}: the window features of these dates read 2 incomplete" in (
        caplog.text
    )


def test_an_optional_column_emptied_on_the_scored_date_is_named(spark, trained, tmp_path, caplog):
    # session 33: the export kept its merchant_category header but left it empty from the
    # scored date on (schema drift upstream): mcc_freq / mcc_fraud_rate took their fill
    # value for every row of that date and the job scored them without a word
    config, day = trained["config"], trained["day"]
    raw = spark.read.option("header", True).csv(str(trained["root"] / "raw"))
    from_day = raw["ts"].substr(1, 10) >= str(day)
    raw.withColumn("merchant_category", F.when(~from_day, raw["merchant_category"])).write.option(
        "header", True
    ).csv(str(tmp_path / "raw"))
    emptied = _config(tmp_path)
    run_etl(spark, emptied)
    with caplog.at_level("WARNING", logger="fraud_app.scoring.input_fill"):
        result = run_scoring(spark, emptied, start=day, end=day, model_uri=trained["model"])
    got = result.summary["emptied_inputs"]
    assert list(got) == ["mcc"] and got["mcc"]["dates"] == {str(day): 0.0}
    assert got["mcc"]["share_before"] == 1.0
    assert {"mcc_freq", "mcc_fraud_rate"} <= set(got["mcc"]["features"])
    assert json.loads(Path(result.summary_path).read_text())["emptied_inputs"] == got
    (line,) = [r.getMessage() for r in caplog.records if "lost their values" in r.getMessage()]
    assert "mcc (export column 'merchant_category') holds a value in 0% of the rows of 1 " in line
    # the complete data's job names nothing
    full = run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    assert full.summary["emptied_inputs"] == {}
    # what it meant: other scores for the same transactions
    complete = _read(_partition(trained["root"], day)).set_index("transaction_id")
    scored = _read(_partition(tmp_path, day)).set_index("transaction_id")
    assert set(scored.index) == set(complete.index)
    assert (scored["fraud_score"] != complete.loc[scored.index, "fraud_score"]).mean() > 0.5
