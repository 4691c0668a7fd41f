"""A page that could not be drawn (a saved value of another type: "This page could not be
drawn") and a backtest report skipped as broken were logged only: `fraud-app dashboards`
exited 0, while a damaged Parquet file that takes out one section exits 3. Now both are
lines of `unreadable`, so the command says what was not drawn and exits 3."""

from __future__ import annotations

import json

import yaml

from dashboards import render_all
from dashboards.synthetic import SyntheticRun, write_run

SMALL = SyntheticRun(run="r1", members=2, groups=6, scored_days=4, test_rows=3_000, features=8)


def _slow_wall_time(src):
    path = src.reports / "training-r1.json"
    report = json.loads(path.read_text())
    report["members"][0]["history"][0]["wall_s"] = "slow"  # text where the writer puts a number
    path.write_text(json.dumps(report))


def test_a_page_not_drawn_and_a_skipped_backtest_are_named(tmp_path):
    src = write_run(tmp_path, SMALL)
    _slow_wall_time(src)
    (src.reports / "backtest-b1.json").write_text(json.dumps({"run": "b1", "folds": []}))
    unreadable: list[str] = []
    render_all(src, unreadable=unreadable)
    assert "This page could not be drawn" in (src.output / "r1" / "training.html").read_text()
    assert [line.split(": ")[0] for line in unreadable] == [
        "run r1", "backtest b1 not drawn",
    ]  # fmt: skip
    assert unreadable[0].startswith("run r1: page training not drawn: A saved input of this page")
    assert "(ValueError: could not convert" in unreadable[0]
    assert "backtest-b1.json: 'folds' must be a non-empty list" in unreadable[1]


def test_a_page_not_drawn_names_the_files_it_reads(tmp_path):
    """`KeyError: 'date'` alone did not say which saved file holds the value of another
    layout (here one scoring summary's date without its `date`)."""
    src = write_run(tmp_path, SMALL)
    path = src.reports / "scoring-job1.json"
    summary = json.loads(path.read_text())
    del summary["dates"][0]["date"]
    path.write_text(json.dumps(summary))
    unreadable: list[str] = []
    render_all(src, unreadable=unreadable)
    assert len(unreadable) == 1 and "page scoring not drawn: " in unreadable[0]
    assert unreadable[0].endswith(
        "(KeyError: 'date'). Re-run the step that wrote it (train, score, evaluate, "
        "validate). The page reads: training-r1.json, scoring-job0.json, scoring-job1.json, "
        "models/r1/ensemble.json."
    )
    assert (
        "The page reads: training-r1.json, scoring-job0.json"
        in (src.output / "r1" / "scoring.html").read_text()
    )


def test_the_cli_exits_3_when_a_page_was_not_drawn(tmp_path, capsys):
    from pipelines.cli import main

    src = write_run(tmp_path, SMALL)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"paths": {"root": str(tmp_path)},
                                      "tracking": {"enabled": False}}))  # fmt: skip
    _slow_wall_time(src)
    assert main(["-c", str(config), "dashboards"]) == 3  # was 0
    err = capsys.readouterr().err
    assert "warning: not drawn: run r1: page training not drawn: " in err


def test_the_cli_exits_0_on_healthy_inputs_with_a_backtest(tmp_path, capsys):
    """The guard of the above: every run, a backtest and the index drawn, no warning."""
    from pipelines.cli import main
    from tests.dashboards.test_backtest_page import _report

    write_run(tmp_path, SMALL)
    (tmp_path / "reports" / "backtest-b1.json").write_text(json.dumps(_report()))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"paths": {"root": str(tmp_path)},
                                      "tracking": {"enabled": False}}))  # fmt: skip
    assert main(["-c", str(config), "dashboards"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert (tmp_path / "reports" / "dashboards" / "backtests" / "b1.html").is_file()
