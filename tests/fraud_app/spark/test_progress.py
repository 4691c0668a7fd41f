"""Progress lines of long Spark jobs (fraud_app.spark.progress): the CLI's session logs one
when Spark has been busy for FRAUD_APP_PROGRESS_S seconds without a log line. Session 30
(helper probe30a): `features` of 3 years of days said nothing for 9 minutes, `etl` for
2 min 19 s, `validate` for 4 min."""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.spark import session as spark_session_module


def _slow_job(spark, seconds: float) -> list[int]:
    return (
        spark.sparkContext.parallelize(range(2), 2)
        .map(lambda x: time.sleep(seconds) or x)
        .collect()
    )


@pytest.fixture
def reporter_off():
    yield
    from fraud_app.spark import progress

    progress.stop()


def test_a_long_silent_job_gets_a_progress_line(spark, monkeypatch, caplog, reporter_off):
    monkeypatch.setenv("FRAUD_APP_PROGRESS_S", "1")
    caplog.set_level(logging.INFO)
    assert spark_session_module.spark_session(load_config(None)) is spark
    assert _slow_job(spark, 4.0) == [0, 1]
    records = [r for r in caplog.records if r.getMessage().startswith("spark: busy")]
    lines = [r.getMessage() for r in records]
    assert lines, "no progress line while a job ran 4 s silent (interval 1 s)"
    assert re.fullmatch(
        r"spark: busy for \dm \d\ds \(\d+ jobs? so far\), job \d+ running: stage \d+ \(.+\): "
        r"[0-2]/2 tasks done, [0-2] running",
        lines[0],
    ), lines[0]
    # one per second of silence at most: a line resets the clock
    gaps = [b.created - a.created for a, b in itertools.pairwise(records)]
    assert all(g >= 0.9 for g in gaps), gaps


def test_a_storm_of_short_jobs_gets_a_progress_line(spark, monkeypatch, caplog, reporter_off):
    # one short job after another (a Spark job per input file): the gaps between them
    # do not end the busy spell
    monkeypatch.setenv("FRAUD_APP_PROGRESS_S", "1")
    caplog.set_level(logging.INFO)
    spark_session_module.spark_session(load_config(None))
    rdd = spark.sparkContext.parallelize(range(1), 1)
    started = time.monotonic()
    while time.monotonic() - started < 4:
        rdd.map(lambda x: time.sleep(0.05) or x).collect()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("spark: busy")]
    assert lines, "no progress line over 4 s of back-to-back short jobs (interval 1 s)"
    assert re.search(r"\((\d+) jobs so far\)", lines[-1]), lines[-1]


def test_a_step_that_logs_gets_no_progress_line(spark, monkeypatch, caplog, reporter_off):
    monkeypatch.setenv("FRAUD_APP_PROGRESS_S", "1.5")
    caplog.set_level(logging.INFO)
    spark_session_module.spark_session(load_config(None))
    done = threading.Event()

    def talk():  # a step's own lines, every 0.3 s (the trainer's per-group lines)
        while not done.wait(0.3):
            logging.getLogger("fraud_app.test").info("step: still working")

    talker = threading.Thread(target=talk, daemon=True)
    talker.start()
    try:
        _slow_job(spark, 4.0)
    finally:
        done.set()
        talker.join()
    assert not [r for r in caplog.records if r.getMessage().startswith("spark: busy")]


def test_the_interval_is_checked_before_spark_starts(monkeypatch, reporter_off):
    from fraud_app import settings
    from fraud_app.spark import progress

    for bad in ("abc", "-1", "inf", "nan"):
        monkeypatch.setenv("FRAUD_APP_PROGRESS_S", bad)
        with pytest.raises(ConfigError, match="FRAUD_APP_PROGRESS_S is .*expected a number"):
            settings.progress_interval_s()
    monkeypatch.setenv("FRAUD_APP_PROGRESS_S", "0")
    assert settings.progress_interval_s() == 0
    assert progress.start(object(), 0) is None  # off: no thread, the session never asked
    monkeypatch.delenv("FRAUD_APP_PROGRESS_S")
    assert settings.progress_interval_s() == 60
