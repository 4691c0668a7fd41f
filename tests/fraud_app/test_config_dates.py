"""A number given for a date or time key (probe51d, session 51).

pydantic reads a number as seconds since 1970-01-01: `reference_time: 20240301` (the
compact date of `date +%Y%m%d`, Airflow's `ds_nodash`) was 1970-08-23T06:18:21 and the
freshness check was judged against it, `generate.start_date: 0` generated 1970's data, and
`backtest.end: 20240301` (or `backtest --end 20240301`) was refused as 'Datetimes provided
to dates should have zero time'. A date key reads eight digits as YYYYMMDD, as the CLI's
date flags do (`score --date 20240301`); any other number is an error saying what to write.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from pipelines.cli import main


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"validation.canonical.reference_time": 20240301},
         r"validation\.canonical\.reference_time: expected a date and time such as "
         r"2024-03-01T00:00:00 \(ISO 8601, UTC\), not the number 20240301 \(a number would be "
         r"read as seconds since 1970-01-01\)"),
        ({"validation.canonical.reference_time": "1709251200"},
         r"reference_time: expected a date and time .* not the number '1709251200'"),
        ({"etl.bounds.min_timestamp": 20240101},
         r"etl\.bounds\.min_timestamp: expected a date and time such as"),
        ({"generate.start_date": 0},
         r"generate\.start_date: expected a date such as 2024-03-01 \(YYYY-MM-DD, or YYYYMMDD\), "
         r"not the number 0"),
        ({"splits.end": 1709251200}, r"splits\.end: expected a date such as"),
        ({"backtest.end": 20240230}, r"backtest\.end: expected a date such as"),  # no such day
        ({"splits.by": "dates", "splits.train": {"start": 20240101.0, "end": "2024-01-20"}},
         r"splits\.train\.start: expected a date such as"),
    ],
)  # fmt: skip
def test_a_number_for_a_date_or_time_is_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, override, check_root=False)


def test_eight_digits_are_a_calendar_date_as_on_the_command_line(tmp_path, capsys):
    config = load_config(None, {"backtest.end": 20240301, "splits.end": "20240229",
                                "generate.start_date": 20240101}, check_root=False)  # fmt: skip
    assert (config.backtest.end, config.splits.end, config.generate.start_date) == (
        dt.date(2024, 3, 1), dt.date(2024, 2, 29), dt.date(2024, 1, 1),
    )  # fmt: skip
    # the flag, as a scheduler's `--end {{ ds_nodash }}` gives it: it was refused
    from pipelines.commands._overrides import with_flags

    assert with_flags(config.backtest, "backtest", end="20240308").end == dt.date(2024, 3, 8)
    # dates and times written as YAML reads them are unchanged
    path = tmp_path / "c.yaml"
    path.write_text("validation: {canonical: {reference_time: 2024-03-01T06:00:00}}\n"
                    "backtest: {end: 2024-03-01}\n")  # fmt: skip
    loaded = load_config(path, check_root=False)
    assert loaded.validation.canonical.reference_time == dt.datetime(2024, 3, 1, 6)
    assert loaded.backtest.end == dt.date(2024, 3, 1)
    # the CLI: one config error, exit 2, before any step
    path.write_text("validation: {canonical: {reference_time: 20240301}}\n")
    assert main(["-c", str(path), "validate"]) == 2
    assert "not the number 20240301" in capsys.readouterr().err
