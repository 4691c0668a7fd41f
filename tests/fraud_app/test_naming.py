"""Run names and job ids become file names: they must stay one plain path component."""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.naming import check_name
from fraud_app.scoring.job import run_scoring
from pipelines.training.pipeline import run_training


@pytest.mark.parametrize("name", ["20240101T000000", "run-1", "a.b_c", "X" * 100])
def test_plain_names_pass(name):
    assert check_name(name, "run name") == name


@pytest.mark.parametrize(
    "name", ["", "../x", "a/b", "..", ".hidden", "-x", "a b", "a\\b", "X" * 101]
)
def test_names_that_would_leave_their_folder_are_refused(name):
    with pytest.raises(ConfigError, match=r"run name .* must be 1-100 letters"):
        check_name(name, "run name")


def test_the_python_api_refuses_them_before_any_work(tmp_path):
    # no Spark session is needed: the name is checked before anything is read or written
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    with pytest.raises(ConfigError, match=r"run name '\.\./\.\./x'"):
        run_training(None, config, run="../../x")
    day = dt.date(2024, 1, 1)
    with pytest.raises(ConfigError, match=r"scoring job id 'a/b'"):
        run_scoring(None, config, start=day, end=day, job_id="a/b")
    assert list(tmp_path.iterdir()) == []
