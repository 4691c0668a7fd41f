"""A `score` of one day costs the same Py4J round trips on a table of 5 dates as on one of
40 (session 40, helper list40; docs/PROBES.md). The table listings it makes (the tables'
records, the staleness of the feature table, the late rows of earlier scores, the footers
of the history window) read the JVM's file statuses about six round trips per file: 85,271
round trips for a one-day `score` of 730 dates, 46,702 of 365 (session 39). Real Spark,
real files: generate -> etl -> features on two small data sets, a hand-made model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.data.generator import generate_raw, write_raw
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from fraud_app.scoring.job import run_scoring
from tests.fraud_app.scoring.table_model import table_model
from tests.fraud_app.scoring.test_unscored_dates import _round_trips


def _calls(sent: list[str]) -> int:
    """The commands sent but Py4J's "memory" ones: the deletes of JVM proxies that Python
    freed, whenever its garbage collector ran (earlier code's objects, any thread)."""
    return sum(1 for command in sent if not command.startswith("m\n"))


pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]
SPECS = ("card_velocity.yaml", "transaction.yaml")


def _project(spark, root: Path, days: int):
    config = load_config(ROOT / "configs" / "demo.yaml", {
        "paths.root": str(root), "features.spec_dir": str(ROOT / "feature_specs"),
        "features.spec_files": list(SPECS), "generate.n_transactions": 12 * days,
        "generate.n_cards": 60, "generate.n_merchants": 20, "generate.days": days,
        "generate.fraud_rate": 0.05, "generate.partitions": 1, "generate.dirty_fraction": 0.0,
        "tracking.enabled": False,
    })  # fmt: skip
    write_raw(generate_raw(spark, config.generate), str(root / "raw"), config.generate.format)
    run_etl(spark, config)
    build_feature_table(spark, config)
    model, _ = table_model(config, root / "model")
    last = max(p.name.split("=", 1)[1] for p in (root / "features").glob("event_date=*"))
    return config, model, dt.date.fromisoformat(last)


def _one_day(spark, config, model: str, day: dt.date, job: str) -> dict:
    return run_scoring(spark, config, start=day, end=day, model_uri=model, job_id=job).summary


def test_a_one_day_score_costs_the_same_round_trips_for_5_and_40_dates(
    spark, tmp_path, monkeypatch
) -> None:
    sent, rows = {}, {}
    for days in (5, 40):
        config, model, last = _project(spark, tmp_path / f"d{days}", days)
        # a first score (earlier dates' scores to list, the JVM classes looked up)
        _one_day(spark, config, model, last - dt.timedelta(days=1), "first")
        counted = _round_trips(spark, monkeypatch)
        summary = _one_day(spark, config, model, last, "day")
        sent[days] = _calls(counted)
        rows[days] = sum(d["rows"] for d in summary["dates"])
        monkeypatch.undo()
        assert len(list((tmp_path / f"d{days}" / "canonical").glob("event_date=*"))) >= days
    assert all(rows.values()), rows
    # base b3e0ece: about 120 more round trips per date of the tables (the listings read
    # entry by entry); now the same whatever the number of dates (1,213 and 1,215 here)
    assert sent[40] - sent[5] <= 20, sent
