"""Run names taken from report file names: links that reach the run's folder whatever its
characters, and no name that leads a render outside the dashboards' folder."""

from __future__ import annotations

import json
import os
import re
import shutil
from urllib.parse import unquote

import pytest

from dashboards.errors import DashboardInputError
from dashboards.render import render_all, render_backtest, render_index, render_run
from dashboards.synthetic import SyntheticRun, write_run
from tests.dashboards.test_backtest_page import _report

TINY = SyntheticRun(run="r1", members=2, groups=4, scored_days=2, test_rows=400, features=4)


@pytest.fixture
def tiny_run(tmp_path):
    return write_run(tmp_path, TINY)


def _links(html: str) -> list[str]:
    return re.findall(r'<li><a href="([^"]*)">', html)


def _as_run(sources, name: str) -> None:
    """`name` as a run with pages, as r1's (a render of each took 3-15 s)."""
    reports, output = os.fsencode(sources.reports), os.fsencode(sources.output)
    shutil.copy(
        reports + b"/training-r1.json", reports + b"/training-" + os.fsencode(name) + b".json"
    )
    shutil.copytree(output + b"/r1", output + b"/" + os.fsencode(name))  # fmt: skip


def test_a_run_link_reaches_its_folder_whatever_the_name(tiny_run):
    # '\udcff': a file name's byte 0xff, not UTF-8 (href's quote was a UnicodeEncodeError
    # out of render_index: no index for any run)
    names = ["a#b", "c?d", "e%41f", "g h", "é", "x:y", "\udcff"]
    render_all(tiny_run)
    for name in names:
        _as_run(tiny_run, name)
    render_index(tiny_run)
    links = _links((tiny_run.output / "index.html").read_text(encoding="utf-8"))
    # a browser reads the href as a URL: '#' starts a fragment, '?' a query, 'x:' a scheme,
    # '%41' is 'A'
    targets = {unquote(re.split(r"[?#:]", link)[0], errors="surrogateescape") for link in links}
    assert targets == {f"{name}/index.html" for name in [*names, "r1"]}
    for target in targets:
        assert (tiny_run.output / target).is_file()


def test_a_backtest_link_reaches_its_page(tiny_run):
    (tiny_run.reports / "backtest-q#1.json").write_text(json.dumps(_report()))
    render_all(tiny_run)
    links = _links((tiny_run.output / "index.html").read_text(encoding="utf-8"))
    assert "backtests/q%231.html" in links
    assert (tiny_run.output / "backtests" / "q#1.html").is_file()


@pytest.mark.parametrize("name", ["..", ".", ""])
def test_a_report_named_as_a_path_step_is_left_out(tiny_run, name, caplog):
    """`training-...json` made `..` a run: its pages were written into reports/ (beside
    the dashboards folder) and its scores read from `test-scores/..`; `training-.json`
    wrote a run's pages into the output itself."""
    shutil.copy(tiny_run.reports / "training-r1.json", tiny_run.reports / f"training-{name}.json")
    written = render_all(tiny_run)
    output = tiny_run.output.resolve()
    assert all(output in p.resolve().parents for p in written)
    assert not list(tiny_run.reports.glob("*.html"))
    assert sorted(p.name for p in tiny_run.output.glob("*.html")) == ["index.html"]
    assert f"training-{name}.json left out: run name {name!r} is not one plain path" in (
        caplog.text
    )
    assert _links((tiny_run.output / "index.html").read_text(encoding="utf-8")) == ["r1/index.html"]


def test_a_report_left_out_is_named_once_per_render(tiny_run, caplog):
    """A render lists the reports two or three times (its runs, the backtests, the index):
    the same WARNING was logged that often."""
    shutil.copy(tiny_run.reports / "training-r1.json", tiny_run.reports / "training-...json")
    shutil.copy(tiny_run.reports / "training-r1.json", tiny_run.reports / "backtest-.json")
    render_all(tiny_run)
    assert caplog.text.count("training-...json left out") == 1
    assert caplog.text.count("backtest-.json left out") == 1


@pytest.mark.parametrize("name", ["..", "../r1", "a/b", "", "a\\b", "a\0b"])
def test_a_run_asked_for_by_a_path_is_refused(tiny_run, name):
    with pytest.raises(DashboardInputError, match="is not one plain path component"):
        render_run(tiny_run, name)
    with pytest.raises(DashboardInputError, match="is not one plain path component"):
        render_backtest(tiny_run, name)
    assert not list(tiny_run.reports.glob("*.html"))
