"""`fraud-app dashboards` and the never-failing render at the end of run/train/score."""

from __future__ import annotations

import logging

import yaml

from dashboards.synthetic import SyntheticRun, sources_for, write_run
from fraud_app.config import load_config
from pipelines.cli import main
from pipelines.reporting import (
    dashboard_sources,
    render_backtest_safely,
    render_dashboards,
    render_dashboards_safely,
)

SMALL = SyntheticRun(run="r1", members=1, groups=3, scored_days=2, test_rows=600, features=4)


def _config_file(tmp_path):
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump({"paths": {"root": str(tmp_path)}}))
    return path


def test_config_paths_map_to_the_default_layout(tmp_path):
    config = load_config(None, {"paths.root": str(tmp_path)})
    assert dashboard_sources(config) == sources_for(tmp_path)


def test_command_renders_and_names_the_index(tmp_path, capsys):
    write_run(tmp_path, SMALL)
    assert main(["-c", str(_config_file(tmp_path)), "dashboards", "--run", "r1"]) == 0
    out = capsys.readouterr().out
    index = tmp_path / "reports" / "dashboards" / "index.html"
    assert f"6 dashboard pages written; open {index}" in out and index.is_file()


def test_command_names_an_unknown_run(tmp_path, capsys):
    write_run(tmp_path, SMALL)
    assert main(["-c", str(_config_file(tmp_path)), "dashboards", "--run", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no training report" in err and "Known runs (newest first): r1" in err


def test_render_after_scoring_picks_the_run_of_that_model(tmp_path):
    write_run(tmp_path, SMALL)
    config = load_config(None, {"paths.root": str(tmp_path)})
    summary = {"model_uri": str(tmp_path / "models" / "r1"), "model_name": "r1"}
    written = render_dashboards(config, scoring_summary=summary)
    assert (tmp_path / "reports" / "dashboards" / "r1" / "scoring.html") in written
    # the synthetic run's report has registry name fraud, version 3
    registered = {"model_uri": "models:/fraud@champion", "model_name": "fraud", "model_version": 3}
    assert tmp_path / "reports" / "dashboards" / "r1" / "index.html" in render_dashboards(
        config, scoring_summary=registered
    )
    other = {"model_uri": "/some/other/model"}
    assert render_dashboards(config, scoring_summary=other) == [
        tmp_path / "reports" / "dashboards" / "index.html"
    ]


def test_a_rendering_failure_is_logged_not_raised(tmp_path, caplog):
    write_run(tmp_path, SMALL)
    (tmp_path / "reports" / "training-r1.json").write_text("[1, 2")  # corrupt
    config = load_config(None, {"paths.root": str(tmp_path)})
    with caplog.at_level(logging.WARNING, logger="pipelines.reporting"):
        assert render_dashboards_safely(config, "r1") == []
    assert "dashboards: rendering failed; the step itself succeeded" in caplog.text
    assert "training-r1.json: cannot read it as JSON" in caplog.text


def test_backtest_page_renders_after_a_backtest_and_never_fails_it(tmp_path, caplog):
    import json

    from tests.dashboards.test_backtest_page import _report

    config = load_config(None, {"paths.root": str(tmp_path)})
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "backtest-b1.json").write_text(json.dumps(_report()))
    written = render_backtest_safely(config, "b1")
    page = reports / "dashboards" / "backtests" / "b1.html"
    assert page in written and (reports / "dashboards" / "index.html") in written
    (reports / "backtest-b2.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="pipelines.reporting"):
        assert render_backtest_safely(config, "b2") == []
    assert "backtest page b2 failed" in caplog.text


def test_command_renders_a_backtest_named_by_run(tmp_path, capsys):
    """`fraud-app backtest --run b1` then `fraud-app dashboards --run b1` said 'no training
    report .../training-b1.json'; the backtest's page is rendered now."""
    import json

    from tests.dashboards.test_backtest_page import _report

    write_run(tmp_path, SMALL)
    reports = tmp_path / "reports"
    (reports / "backtest-b1.json").write_text(json.dumps(_report()))
    page = reports / "dashboards" / "backtests" / "b1.html"
    assert main(["-c", str(_config_file(tmp_path)), "dashboards", "--run", "b1"]) == 0
    assert page.is_file() and "b1.html" in (reports / "dashboards" / "index.html").read_text()
    assert not (reports / "dashboards" / "r1").exists()  # only what was asked for
    capsys.readouterr()
    assert main(["-c", str(_config_file(tmp_path)), "dashboards", "--run", "nope"]) == 2
    assert "Known runs (newest first): r1; backtests: b1" in capsys.readouterr().err


def test_tables_on_remote_storage_are_named_not_silently_left_out(tmp_path, capsys, monkeypatch):
    """review44a: with a URI root the pages read `hdfs:/nn:8020/...` as a local folder that
    never exists: the score curves, rows per day and quarantine were left out unsaid, and the
    command exited 0. Now each such table is named (stderr, exit PARTIAL, on its page)."""
    write_run(tmp_path, SMALL)  # reports and models under local_root
    config = tmp_path / "app.yaml"
    paths = {"root": "hdfs://nn:8020/fraud", "local_root": str(tmp_path)}
    config.write_text(yaml.safe_dump({"paths": paths, "etl": {"quarantine": str(tmp_path / "q")}}))
    monkeypatch.chdir(tmp_path)
    assert main(["-c", str(config), "dashboards", "--run", "r1"]) == 3
    err = capsys.readouterr().err
    why = "is on remote storage; the dashboards read tables with pyarrow on this machine only"
    for line in [
        f"paths.test_scores 'hdfs://nn:8020/fraud/test-scores' {why}",
        f"paths.canonical 'hdfs://nn:8020/fraud/canonical' {why}",
        f"paths.features 'hdfs://nn:8020/fraud/features' {why}",
    ]:
        assert f"warning: not drawn: run r1: {line}" in err
    assert "etl.quarantine" not in err and "paths.quarantine" not in err  # a local one is read
    page = (tmp_path / "reports" / "dashboards" / "r1" / "model-quality.html").read_text()
    shown = "paths.test_scores &#x27;hdfs://nn:8020/fraud/test-scores&#x27; is on remote"
    assert f"Not drawn: {shown}" in page
    assert not (tmp_path / "hdfs:").exists()


def test_not_drawn_lines_write_control_characters_as_escapes(tmp_path, capsys):
    """The `warning: not drawn:` lines quote file names and the test scores' column names
    (session 50): printed as they were, an ESC or BEL of one reached the terminal (a
    report named `evaluation-x<ESC>[2J.json` cleared the screen); the CLI's log and
    `error:` lines write them as escapes (fraud_app.redaction.shown_text), and so do these."""
    import pandas as pd

    write_run(tmp_path, SMALL)
    (tmp_path / "reports" / "evaluation-x\x1b[2J\x07.json").write_text("{not json")
    scores = tmp_path / "test-scores" / "r1"
    for part in scores.rglob("*"):
        if part.is_file():
            part.unlink()
    pd.DataFrame({"score\x1b]0;t\x07": [0.5], "y": [1]}).to_parquet(scores / "part-0.parquet")
    assert main(["-c", str(_config_file(tmp_path)), "dashboards", "--run", "r1"]) == 3
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    lines = [line for line in err.splitlines() if line.startswith("warning: not drawn:")]
    assert len(lines) == 2, err
    assert "evaluation-x\\x1b[2J\\x07.json" in err and "Found: score\\x1b]0;t\\x07, y" in err
