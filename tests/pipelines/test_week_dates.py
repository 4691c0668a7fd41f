"""Dates on the command line of `score` / `evaluate` (session 49, probe49b). Python 3.11's
date.fromisoformat reads ISO week dates too: `score --date 2024-W08` scored Monday
2024-02-19 alone, exit 0, and `--start 2024-W08 --end 2024-W09` ended on the next Monday;
nothing said a week was read as one day. Now only YYYY-MM-DD and YYYYMMDD (Airflow's
ds_nodash) are dates; a week date is refused with what to give instead. No Spark."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest

from fraud_app.errors import ConfigError
from fraud_app.scoring.dates import as_date
from pipelines.commands.score import date_range, parse_date


@pytest.mark.parametrize("week", ["2024-W08", "2024-W08-7", "2024W087", "2024w08"])
def test_an_iso_week_is_refused_naming_the_flag_and_what_to_give(week):
    with pytest.raises(ConfigError) as e:
        parse_date(week, "--date")
    text = str(e.value)
    assert "--date must be a date like 2024-02-25" in text and repr(week) in text
    if week in ("2024-W08", "2024w08"):  # a week
        assert "not a week" in text and "--start 2024-02-19 --end 2024-02-25" in text
    else:  # a day of the week
        assert "give that day as 2024-02-25" in text
    with pytest.raises(ConfigError, match="an ISO week date"):
        as_date(week, "start")


@pytest.mark.parametrize(
    ("week", "advice"),
    [("2025-W10", "--start 2025-03-03 --end 2025-03-09"), ("2025-W10-3", "as 2025-03-05"),
     ("2020-W53", "--start 2020-12-28 --end 2021-01-03"), ("2021-W53", "give calendar dates")],
)  # fmt: skip
def test_the_advice_names_that_weeks_own_dates(week, advice):
    # review49b: the advice was the example week 2024-W08's dates whatever week was given
    with pytest.raises(ConfigError) as e:
        parse_date(week, "--start")
    assert advice in str(e.value) and "2024-02-19" not in str(e.value)


def test_a_week_range_is_not_read_as_two_mondays():
    args = argparse.Namespace(date=None, start="2024-W08", end="2024-W09")
    with pytest.raises(ConfigError, match="--start must be a date"):
        date_range(args)


@pytest.mark.parametrize(
    ("text", "day"),
    [("2024-02-25", dt.date(2024, 2, 25)), ("20240225", dt.date(2024, 2, 25)),
     ("2024-02-29", dt.date(2024, 2, 29))],
)  # fmt: skip
def test_calendar_dates_are_read_as_before(text, day):
    assert parse_date(text, "--date") == day
    assert as_date(text, "start") == day


@pytest.mark.parametrize(
    "text", ["2024-02-30", "2024-2-5", "2024-02-25T00:00:00+00:00", " 2024-02-25", "2024056"]
)
def test_other_forms_stay_refused_without_the_week_advice(text):
    with pytest.raises(ConfigError) as e:
        parse_date(text, "--end")
    assert "--end must be a date like 2024-02-25" in str(e.value)
    assert "week" not in str(e.value)
