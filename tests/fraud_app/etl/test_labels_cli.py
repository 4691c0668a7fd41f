"""`fraud-app labels` through the real CLI (in process, on the shared local Spark session):
its summary line and JSON, exit codes and one-line errors; and the age check `validate`
logs when unlabelled rows are older than the label delay + grace (the feed lags)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.validation.label_age import lagging_labels
from fraud_app.validation.validate import validate_canonical
from pipelines.cli import main
from tests.fraud_app.etl.test_labels_feed import _feed, _root

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def published(transactions_published) -> Path:
    return transactions_published  # published once per test process (conftest.py)


def _config_file(root: Path, tmp_path: Path, text: str = "") -> str:
    path = tmp_path / "config.yaml"
    path.write_text(f"paths: {{root: {root}}}\n{text}")
    return str(path)


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_the_cli_fills_prints_one_line_and_reruns_as_unchanged(published, tmp_path, capsys):
    root = _root(published, tmp_path)
    config = _config_file(root, tmp_path)
    feed = _feed(tmp_path, "transaction_id,label\nt1,1\nt9,0\n")
    assert main(["-c", config, "labels", feed]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"labels: 2 rows in -> 1 filled, 0 unchanged, 1 quarantined (unknown_transaction 1), "
        f"0 duplicate(s); 1 partition(s) rewritten; report {root}/canonical/_labels_report.json"
    ]
    assert main(["labels", "--json", feed, "-c", config]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["labels_filled"], report["labels_unchanged"], report["delay_only"]) == (
        0,
        1,
        True,
    )
    assert report == json.loads((root / "canonical" / "_labels_report.json").read_text())
    assert not (root / ".fraud-app.lock").exists()


def test_the_cli_corrects_a_chargeback_and_corrections_quarantine_keeps_it_out(
    published, tmp_path, capsys
):
    root = _root(published, tmp_path)
    config = _config_file(root, tmp_path)
    feed = _feed(tmp_path, "transaction_id,label\nt2,1\nt5,0\n")  # 0 -> 1, 1 -> 0
    assert main(["-c", config, "labels", "--corrections", "quarantine", feed]) == 0
    assert capsys.readouterr().out.startswith(
        "labels: 2 rows in -> 0 filled, 0 unchanged, 2 quarantined (conflicting_label 2), "
    )
    assert main(["-c", config, "labels", feed]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("labels: 2 rows in -> 0 filled, 1 corrected (e.g. transaction_id "
                           "'t2': label 0 (known at '2024-01-12 11:00:00') -> 1, known at '")  # fmt: skip
    assert line.endswith("'), 0 unchanged, 1 quarantined (label_reversal_not_supported 1), 0 "
                         "duplicate(s); 1 partition(s) rewritten; report "
                         f"{root}/canonical/_labels_report.json")  # fmt: skip
    report = json.loads((root / "canonical" / "_labels_report.json").read_text())
    assert (report["labels_corrected"], report["label_corrections"]) == (1, "apply")


def test_the_cli_names_a_missing_feed_and_a_missing_column_in_one_line(published, tmp_path, capsys):
    root = _root(published, tmp_path)
    config = _config_file(root, tmp_path)
    missing = str(tmp_path / "no-such-feed.csv")
    assert main(["-c", config, "labels", missing]) == 2
    assert _error_lines(capsys.readouterr().err) == [
        f"error: label feed {missing} does not exist; expected a CSV, Parquet or JSON file (or "
        "a folder of them) with columns transaction_id, label and optionally label_time"
    ]
    feed = _feed(tmp_path, "txn,label\nt1,1\n")
    assert main(["-c", config, "labels", feed]) == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: label feed {feed} lacks column(s) transaction_id (looked for "
                           "'transaction_id'). Columns present: ['label', 'txn']. Expected "
                           "transaction_id, label and optionally label_time")  # fmt: skip
    # mapped in the config, the same file is read
    config = _config_file(root, tmp_path, "etl: {columns: {transaction_id: txn}}\n")
    assert main(["-c", config, "labels", feed]) == 0
    assert capsys.readouterr().out.startswith("labels: 1 rows in -> 1 filled")


def test_unlabelled_rows_older_than_the_delay_and_grace_are_one_warning(
    spark, published, tmp_path, caplog
):
    table = spark.read.parquet(str(published / "canonical"))
    # t1 (01-05), t3 (01-06), t4 (01-07) unlabelled; delay 7 + grace 7 days
    at = dt.datetime(2024, 1, 20)
    assert lagging_labels(table, 7.0, 7.0, at) == (
        "label feed lagging: 1 unlabelled row(s) have a timestamp before 2024-01-06 00:00:00 UTC "
        "(2024-01-20 00:00:00 - features.label_delay_days 7 - "
        "validation.canonical.unlabelled_grace_days 7); oldest event_date 2024-01-05. Their "
        "labels are overdue: deliver them with `fraud-app labels FEED`"
    )
    assert lagging_labels(table, 7.0, 7.0, dt.datetime(2024, 1, 12)) is None
    checks = {"reference_time": "2024-01-30T00:00:00", "unlabelled_grace_days": 2}
    config = load_config(None, {"paths.root": str(tmp_path), "validation": {
        "canonical": checks, "fail_on_error": False}})  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.validation.validate"):
        validate_canonical(spark, table, config)
    lagging = [r.getMessage() for r in caplog.records if "label feed lagging" in r.getMessage()]
    assert len(lagging) == 1 and "\n" not in lagging[0]
    assert lagging[0].startswith("label feed lagging: 3 unlabelled row(s) have a timestamp "
                                 "before 2024-01-21 00:00:00 UTC")  # fmt: skip
    assert "oldest event_date 2024-01-05" in lagging[0]
