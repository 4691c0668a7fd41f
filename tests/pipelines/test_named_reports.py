"""`backtest --run` / `tune --run` never replace an earlier run's files silently
(pipelines.named_reports): refused before anything is read, and again when writing."""

from __future__ import annotations

import json
import re

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ReportExistsError
from fraud_app.naming import utc_stamp
from pipelines.backtest.pipeline import run_backtest
from pipelines.named_reports import pick_run, write_output
from pipelines.tune.pipeline import check_run, run_tune


def test_a_file_that_appeared_while_the_run_worked_is_not_replaced(tmp_path):
    # another process took the name after the check: its file stays, this one is refused
    path = tmp_path / "reports" / "backtest-a.json"
    path.parent.mkdir()
    path.write_text('{"theirs": 1}')
    with pytest.raises(ReportExistsError, match=r"^backtest run 'a' already exists \(.*"):
        write_output(path, '{"mine": 1}', command="backtest", run="a", replace=False)
    assert json.loads(path.read_text()) == {"theirs": 1}
    assert [p.name for p in path.parent.iterdir()] == ["backtest-a.json"]  # no temp left
    write_output(path, '{"mine": 1}', command="backtest", run="a", replace=True)
    assert json.loads(path.read_text()) == {"mine": 1}


def test_a_default_name_skips_the_names_taken(tmp_path):
    stamp = utc_stamp()  # two runs started in this second already
    (tmp_path / stamp).mkdir()
    (tmp_path / f"{stamp}-2").mkdir()
    name = pick_run("tune", None, lambda r: [tmp_path / r])
    assert re.fullmatch(r"\d{8}T\d{6}-[23]", name), name  # -3, or a new second's -2


def test_the_python_api_refuses_before_reading_anything(tmp_path):
    config = load_config(None, {"paths.root": str(tmp_path)})
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "backtest-b.json").write_text("{}")
    (tmp_path / "reports" / "tune-t.json").write_text("{}")
    # spark=None: any read of data would fail with an AttributeError, not this
    with pytest.raises(ReportExistsError, match="backtest run 'b' already exists"):
        run_backtest(None, config, config.backtest, run="b")
    with pytest.raises(ReportExistsError, match="tune run 't' already exists"):
        run_tune(None, config, config.tune, run="t")
    assert check_run(config, config.tune, "t", replace=True) == "t"
