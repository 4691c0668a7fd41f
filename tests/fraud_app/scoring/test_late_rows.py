"""Late-arriving transactions in the daily cycle (session 36 probe, docs/PROBES.md).

Rows of a date that `score` already wrote arrive in a later delivery (`etl --mode
append`). The daily `score --date` of the next day scored only that day: the late rows
had no score, and no output said so. Now every `score` names the dates scored earlier
whose canonical partition holds more rows than their scores (`unscored_dates`, one
WARNING); scoring such a date again replaces its partition with every row. The feature
table built incrementally after the late rows equals a full rebuild. One module fixture:
generate -> etl (without the late rows) -> features, and a hand-made model (no training).
Real Spark, real files.
"""

from __future__ import annotations

import glob
import logging
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from fraud_app.config import load_config
from fraud_app.data.generator import generate_raw, write_raw
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from fraud_app.scoring.job import run_scoring
from tests.fraud_app.scoring.table_model import table_model

pytestmark = [pytest.mark.spark, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
SPECS = ("card_velocity.yaml", "transaction.yaml")
LATE = 3  # rows of the last date held back for the next delivery


def _config(root: Path, delivery: Path, **etl):
    return load_config(ROOT / "configs" / "demo.yaml", {
        "paths.root": str(root), "features.spec_dir": str(ROOT / "feature_specs"),
        "features.spec_files": list(SPECS), "generate.n_transactions": 1_200,
        "generate.n_cards": 80, "generate.n_merchants": 20, "generate.days": 12,
        "generate.fraud_rate": 0.05, "generate.partitions": 1, "generate.dirty_fraction": 0.0,
        "tracking.enabled": False, "etl.input": str(delivery), **etl,
    })  # fmt: skip


@pytest.fixture(scope="module")
def project(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("late-rows")
    config = _config(root, root / "d1")
    write_raw(generate_raw(spark, config.generate), str(root / "raw"), "csv")
    raw = pd.concat(pd.read_csv(f, dtype=str, keep_default_na=False)
                    for f in glob.glob(str(root / "raw" / "*.csv")))  # fmt: skip
    ts = config.etl.columns["timestamp"]
    last = raw[ts].str[:10].max()
    day = raw[raw[ts].str[:10] == last].sort_values(ts)
    late = day.iloc[[1, len(day) // 2, len(day) - 2]]  # early, midday, late in the day
    for name, rows in (("d1", raw.drop(late.index)), ("d2", late)):
        (root / name).mkdir()
        rows.to_csv(root / name / "part.csv", index=False)
    run_etl(spark, config)
    build_feature_table(spark, config)
    model, _ = table_model(config, root / "model")
    return {"root": root, "config": config, "model": model, "last": last,
            "late": sorted(late[config.etl.columns["transaction_id"]])}  # fmt: skip


def _table(path) -> pd.DataFrame:
    """A feature table's rows by transaction_id, the vector column as tuples."""
    df = pq.read_table(str(path)).to_pandas().sort_values("transaction_id")
    df["features"] = df["features"].map(tuple)
    return df.drop(columns="event_date").reset_index(drop=True)


def _scores(root: Path, day: str) -> pd.DataFrame:
    return pq.read_table(str(root / "scores" / f"event_date={day}")).to_pandas()


def test_rows_arriving_after_their_date_was_scored_are_named_until_scored(
    spark, project, tmp_path, caplog
):
    root, config, model = project["root"], project["config"], project["model"]
    last = project["last"]
    before = (pd.Timestamp(last) - pd.Timedelta(days=1)).date().isoformat()
    run_scoring(spark, config, start=last, end=last, model_uri=model, job_id="day-last")
    first = _scores(root, last).set_index("transaction_id")
    assert not set(project["late"]) & set(first.index)

    appended = run_etl(spark, _config(root, root / "d2", **{"etl.mode": "append"}))
    assert appended.backfilled_dates == (last,)  # the newest date: named since session 36
    build = build_feature_table(spark, config).extra["build"]
    assert (build["mode"], build["from"]) == ("incremental", last)  # from the late rows' date
    full = _config(root, root / "d2", **{"features.output": str(tmp_path / "full"),
                                         "features.incremental": False})  # fmt: skip
    assert build_feature_table(spark, full).extra["build"]["mode"] == "full"
    assert _table(config.feature_table()).equals(_table(tmp_path / "full"))  # value for value

    # the next scheduled job scores another date: the late rows of `last` have no score
    with caplog.at_level(logging.WARNING, logger="fraud_app.scoring.late_rows"):
        result = run_scoring(spark, config, start=before, end=before, model_uri=model)
    rows = len(first) + LATE
    expected = {last: {"canonical_rows": rows, "scored_rows": len(first), "unscored_rows": LATE}}
    assert result.summary["unscored_dates"] == expected
    assert (
        f"{LATE} transaction(s) of 1 date(s) scored by an earlier job arrived in "
        f"{config.canonical_table()} after that job and have no score: {last} ({LATE} of "
        f"{rows} rows)" in caplog.text
    )
    assert f"`fraud-app score --date {last}`" in caplog.text

    # scoring the date again replaces its partition: every row, nothing named any more
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fraud_app.scoring.late_rows"):
        again = run_scoring(spark, config, start=last, end=last, model_uri=model)
    assert again.summary["unscored_dates"] == {}
    assert "have no score" not in caplog.text
    second = _scores(root, last).set_index("transaction_id")
    assert len(second) == rows and set(project["late"]) <= set(second.index)
