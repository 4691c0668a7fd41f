"""`evaluate --name`: an earlier report of the same name is refused (naming the file) unless
`replace`; it was overwritten silently. Names left out take the UTC second, with -2, -3, ...
when two evaluations start in the same second (they wrote one file). No Spark: the report
writing and the pre-Spark check on a real reports directory."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import fraud_app.scoring.evaluate as evaluate
from fraud_app.config import load_config
from fraud_app.errors import ReportExistsError
from fraud_app.scoring.evaluate import check_request, write_evaluation

DAY = dt.date(2024, 1, 1)


@pytest.fixture
def config(tmp_path):
    return load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})


def _read(path) -> dict:
    return json.loads(path.read_text())


def test_a_name_whose_report_exists_is_refused_naming_the_file(config):
    path = write_evaluation({"rows": 1}, config, "jan")
    assert path == config.paths.local("reports") / "evaluation-jan.json"
    message = (
        rf"evaluation 'jan' already exists \({path}\); evaluating again would replace it\. "
        r"Give a new --name .* or pass --replace to replace it"
    )
    with pytest.raises(ReportExistsError, match=message):
        check_request(DAY, DAY, "jan", config)  # what the CLI runs before Spark starts
    with pytest.raises(ReportExistsError, match=message):
        write_evaluation({"rows": 2}, config, "jan")  # a report that appeared meanwhile
    assert _read(path) == {"rows": 1}


def test_replace_writes_over_the_earlier_report(config):
    path = write_evaluation({"rows": 1}, config, "jan")
    check_request(DAY, DAY, "jan", config, replace=True)
    assert write_evaluation({"rows": 2}, config, "jan", replace=True) == path
    assert _read(path) == {"rows": 2}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_free_name_passes_the_check(config):
    check_request(DAY, DAY, "feb", config)
    assert _read(write_evaluation({"rows": 3}, config, "feb")) == {"rows": 3}


def test_unnamed_evaluations_in_the_same_second_get_their_own_files(config, monkeypatch):
    monkeypatch.setattr(evaluate, "utc_stamp", lambda: "20260102T030405")
    paths = [write_evaluation({"rows": k}, config) for k in range(3)]
    assert [p.name for p in paths] == [
        "evaluation-20260102T030405.json",
        "evaluation-20260102T030405-2.json",
        "evaluation-20260102T030405-3.json",
    ]
    assert [_read(p) for p in paths] == [{"rows": 0}, {"rows": 1}, {"rows": 2}]
