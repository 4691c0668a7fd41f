"""A coarse clock: timestamps of whole minutes or hours (session 53). Features read the
rows strictly before a row's instant, so on such a clock every transaction of a card in
one minute is blind to the others and a velocity window counts per minute: the ETL
records the clock's resolution (`timestamp_resolution` in its report) and names a clock
of whole minutes or hours in one WARNING. PaySim's hour `step` read as offset_seconds (a
month in 743 s) is named too. Seconds, fractions and a few hand-written rows are not."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl.clock_resolution import COARSE_ROWS
from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_hostile_inputs import _run, assert_accounted

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,timestamp,amount,label\n"
LOGGER = "fraud_app.etl.clock_resolution"


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name == LOGGER]  # fmt: skip


def _csv(times: list[str]) -> str:
    return HEADER + "".join(f"t{i},c{i % 3},{t},{i + 1},0\n" for i, t in enumerate(times))


@pytest.mark.parametrize(
    ("times", "resolution", "named"),
    [
        (
            [f"2025-09-01 {h:02d}:{m:02d}:00" for h in range(2) for m in range(0, 50, 5)],
            "minute",
            True,
        ),
        ([f"2025-09-{d:02d} {h:02d}:00:00" for d in (1, 2) for h in range(10)], "hour", True),
        (
            [f"2025-09-01 10:{m:02d}:{s:02d}" for m in range(4) for s in range(0, 50, 10)],
            "second",
            False,
        ),
        ([f"2025-09-01 10:00:{s:02d}.5" for s in range(COARSE_ROWS)], "sub-second", False),
        (["2025-09-01 10:00:00", "2025-09-01 10:05:00"], "minute", False),  # two rows
    ],
    ids=["minutes", "hours", "seconds", "fractions", "few"],
)
def test_the_clock_resolution_is_recorded_and_a_coarse_one_named(
    spark, tmp_path, caplog, times, resolution, named
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = _run(spark, tmp_path, {"a.csv": _csv(times)})
    assert_accounted(spark, result, len(times))
    assert result.timestamp_resolution == resolution
    report = json.loads(Path(result.report_path).read_text())
    assert report["timestamp_resolution"] == resolution
    lines = _warnings(caplog)
    assert len(lines) == (1 if named else 0), lines
    if named:
        assert f"every one of the {len(times)} timestamps" in lines[0]
        assert f"on a whole {resolution} UTC" in lines[0] and "strictly before" in lines[0]


def test_hours_read_as_offset_seconds_are_named(spark, tmp_path, caplog) -> None:
    steps = [1 + i % 743 for i in range(1000)]  # PaySim's hour `step`: 1..743
    csv = HEADER + "".join(f"t{i},c{i % 7},{s},1.5,0\n" for i, s in enumerate(steps))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = _run(spark, tmp_path, {"a.csv": csv}, timestamp_format="offset_seconds",
                      timestamp_origin="2017-12-01T00:00:00Z")  # fmt: skip
    assert result.output_rows == 1000 and result.timestamp_resolution == "second"
    (line,) = _warnings(caplog)
    assert "the 1000 timestamps published (etl.timestamp_format: offset_seconds)" in line
    assert "within 742 second(s)" in line and "set etl.timestamp_format: offset_hours" in line


def test_a_busy_hour_of_seconds_after_the_first_hour_is_not_named(spark, tmp_path, caplog):
    """review53b: 1,000 transactions within an hour is a busy processor's hourly delivery,
    not hours read as seconds, when the offsets are days after the origin: it was named
    on every run. Only offsets all within the origin's first hour are."""
    seconds = [864_000 + 3 * i for i in range(1000)]  # day 10, 50 minutes
    csv = HEADER + "".join(f"t{i},c{i % 7},{s},1.5,0\n" for i, s in enumerate(seconds))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = _run(spark, tmp_path, {"a.csv": csv}, timestamp_format="offset_seconds",
                      timestamp_origin="2017-12-01T00:00:00")  # fmt: skip
    assert result.output_rows == 1000 and result.timestamp_resolution == "second"
    assert _warnings(caplog) == []


def test_a_clock_the_config_or_the_table_already_states_is_not_named_again(
    spark, tmp_path, caplog
) -> None:
    """review53b: offset_hours states a clock of hours (PaySim: every run WARNED that the
    export's clock is hours); an append onto a table whose last report already records
    the same coarse clock is not named again (the same WARNING on every daily delivery
    hides the new ones). The report keeps recording the resolution."""
    csv = HEADER + "".join(f"t{i},c{i % 3},{i + 1},1.5,0\n" for i in range(COARSE_ROWS))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        hours = _run(spark, tmp_path / "h", {"a.csv": csv}, timestamp_format="offset_hours",
                     timestamp_origin="2017-12-01T00:00:00")  # fmt: skip
    assert hours.timestamp_resolution == "hour" and _warnings(caplog) == []
    day = [f"2025-09-01 {h:02d}:{m:02d}:00" for h in range(2) for m in range(0, 50, 5)]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        _run(spark, tmp_path / "m", {"a.csv": _csv(day)})
    assert len(_warnings(caplog)) == 1  # the first load of a minute clock: named
    caplog.clear()
    later = HEADER + "".join(
        f"u{i},c{i % 3},{t.replace('09-01', '09-02')},{i + 1},0\n" for i, t in enumerate(day)
    )
    config = load_config(None, {"paths.root": str(tmp_path / "m" / "work"),
                                "etl": {"input": str(tmp_path / "m2"), "mode": "append"}})  # fmt: skip
    (tmp_path / "m2").mkdir()
    (tmp_path / "m2" / "b.csv").write_text(later)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        appended = run_etl(spark, config)
    assert appended.output_rows == 2 * len(day) and appended.timestamp_resolution == "minute"
    assert _warnings(caplog) == []
