"""What the batch scoring job says of its inputs: a day without labels, amounts beyond the
training range, a stale feature table, an outage in the history, an optional column
emptied (the `trained` fixture of conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from fraud_app.scoring.evaluate import run_evaluation
from fraud_app.scoring.job import run_scoring
from tests.fraud_app.scoring.job_data import job_config, read_parquet, scores_partition

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_a_day_delivered_without_labels_scores_as_with_them(spark, trained, tmp_path):
    # production: a day's transactions arrive before their fraud is confirmed; the ETL
    # publishes them unlabelled and the job scores them, with the scores the same rows get
    # once labelled (no label of the scored day, nor later, reaches its features)
    config, day = trained["config"], trained["day"]
    raw = spark.read.option("header", True).csv(str(trained["root"] / "raw"))
    from_day = raw["ts"].substr(1, 10) >= str(day)
    blank = {c: F.when(~from_day, F.col(c)) for c in ("is_fraud", "label_ts")}
    raw.withColumns(blank).write.option("header", True).csv(str(tmp_path / "raw"))
    unlabelled = job_config(tmp_path)
    etl = run_etl(spark, unlabelled)
    assert etl.unlabelled_rows == raw.filter(from_day).count() > 0
    assert etl.quarantine_rows == 0
    run_scoring(spark, config, start=day, end=day, model_uri=trained["model"])
    run_scoring(spark, unlabelled, start=day, end=day, model_uri=trained["model"])
    labelled = read_parquet(scores_partition(trained["root"], day)).set_index("transaction_id")
    got = read_parquet(scores_partition(tmp_path, day)).set_index("transaction_id")
    assert len(got) == len(labelled) > 0 and set(got.index) == set(labelled.index)
    # to the bit: a row's score does not depend on its place in a batch (dlcore.inference)
    np.testing.assert_array_equal(got["fraud_score"], labelled.loc[got.index, "fraud_score"])


def test_amounts_beyond_the_training_range_are_named_counted_and_warned(
    spark, trained, tmp_path, caplog
):
    """Session 19 probe: amounts of 9e9 (training: thousands) scored high, but none of
    their reasons named an amount feature (the input is clipped after standardisation and
    the raw-input gradient is 0 there), and `score` said nothing about the range."""
    day = trained["day"]
    raw = spark.read.option("header", True).csv(str(trained["root"] / "raw"))
    big = (raw["ts"].substr(1, 10) == str(day)) & (F.crc32(raw["txn_id"]) % 5 == 0)
    raw.withColumn("amt", F.when(big, F.lit("9000000000")).otherwise(raw["amt"])).write.option(
        "header", True
    ).csv(str(tmp_path / "raw"))
    big_ids = {r[0] for r in raw.filter(big).select("txn_id").collect()}
    far = job_config(tmp_path)
    run_etl(spark, far)
    with caplog.at_level(logging.WARNING, logger="fraud_app.scoring.job"):
        result = run_scoring(spark, far, start=day, end=day, model_uri=trained["model"])
    got = read_parquet(scores_partition(tmp_path, day)).set_index("transaction_id")
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
    outage = job_config(tmp_path)
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
    complete = read_parquet(scores_partition(trained["root"], day)).set_index("transaction_id")
    got = read_parquet(scores_partition(tmp_path, day)).set_index("transaction_id")
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
    emptied = job_config(tmp_path)
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
    complete = read_parquet(scores_partition(trained["root"], day)).set_index("transaction_id")
    scored = read_parquet(scores_partition(tmp_path, day)).set_index("transaction_id")
    assert set(scored.index) == set(complete.index)
    assert (scored["fraud_score"] != complete.loc[scored.index, "fraud_score"]).mean() > 0.5
