"""report_readings.check_readings: the one call an ETL append and a labels feed make with
the table's last report (session 55 split of pipeline.py). A labels feed reads no amount
and only label_time: the amounts' reading and the timestamp's are not its to name."""

from __future__ import annotations

import logging

from fraud_app.config import load_config
from fraud_app.etl import report_readings


def _said(caplog) -> list[tuple[str, str]]:
    return [(r.name, r.getMessage()) for r in caplog.records if r.levelno == logging.WARNING]


def test_an_append_names_every_reading_a_feed_only_its_label_time(caplog) -> None:
    cfg = load_config(None, {"etl": {"amount_minor_units": 2, "time_zone": "Europe/Paris"}}).etl
    recorded = report_readings.recorded(cfg)
    assert set(recorded) == {"amount_reading", "label_time_reading", "time_reading",
                             "code_reading"}  # fmt: skip
    last = {**recorded, "amount_reading": {"minor_units": None, "currency": None},
            "time_reading": {**recorded["time_reading"], "time_zone": None}}  # fmt: skip
    with caplog.at_level(logging.WARNING):
        report_readings.check_readings(last, cfg, "/t/canonical")
    said = _said(caplog)
    assert [name for name, _ in said] == ["fraud_app.etl.amounts", "fraud_app.etl.pipeline"]
    assert "wall-clock times of timestamp and label_time" in said[1][1]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        report_readings.check_readings(last, cfg, "/t/canonical", feed=True)
    (only,) = _said(caplog)
    assert only[0] == "fraud_app.etl.pipeline" and "wall-clock times of label_time " in only[1]
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the same readings, and no report at all
        report_readings.check_readings(recorded, cfg, "/t/canonical")
        report_readings.check_readings(["not", "a", "report"], cfg, "/t/canonical")
    assert not _said(caplog)
