"""The page writer's temporary files (`.<page>.<pid>-<hex>.tmp`, dashboards.pagefile): a
killed render's are removed by a later write and skipped by the readers of pages; a long
page name or text with no UTF-8 still makes one page."""

from __future__ import annotations

import json
import os
import subprocess
import time

from dashboards.assets import unused_bundles
from dashboards.pagefile import write_page
from dashboards.render import render_backtest
from dashboards.sources import Sources
from tests.dashboards.test_backtest_page import _report


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _aged(path, seconds: float, text: str = "half a page"):
    path.write_text(text)
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_a_killed_renders_temporary_files_go_with_the_next_write(tmp_path):
    """Each kill mid-write left one file for good (nothing removed them); one a live
    writer may still hold stays."""
    dead, me = _dead_pid(), os.getpid()
    gone = [
        _aged(tmp_path / f".index.html.{dead}-0123abcd.tmp", 120),  # a killed render's
        _aged(tmp_path / f".scoring.html.{me}-0123abcd.tmp", 7200),  # older than any write
        _aged(tmp_path / ".training.html.tmp", 120),  # the one name of before session 47
    ]
    kept = [
        _aged(tmp_path / f".model-quality.html.{dead}-0123abcd.tmp", 5),  # another host's?
        _aged(tmp_path / f".roc.svg.{me}-0123abcd.tmp", 120),  # a live writer's
        _aged(tmp_path / ".notes.tmp", 7200),  # not ours
        _aged(tmp_path / "old.html", 7200),
    ]
    write_page(tmp_path / "index.html", "<p>page</p>")
    assert [p for p in gone if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    assert (tmp_path / "index.html").read_text() == "<p>page</p>"


def test_a_part_page_does_not_keep_an_old_bundle(tmp_path):
    """`fraud-app prune` reads every page for the bundles they load: a killed render's
    part page (`*.htm*` matched it) held an unused plotly.js for good."""
    assets = tmp_path / "assets"
    assets.mkdir()
    old = assets / "plotly-1.0.0.min.js"
    old.write_text("old")
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / "index.html").write_text('<script src="../assets/x"></script>')
    (tmp_path / "r1" / f".index.html.{_dead_pid()}-0123abcd.tmp").write_text(
        '<script src="../assets/plotly-1.0.0.min.js"></script>'
    )
    assert unused_bundles(tmp_path) == [old]


def test_a_long_backtest_name_has_its_page(tmp_path):
    """A 236-character backtest name (its report's file name 250 bytes): the temporary
    name `.<name>.html.<pid>-<hex>.tmp` was over 255 bytes, an OSError (ENAMETOOLONG) out
    of every render, which drew no index for any run."""
    sources = Sources(reports=tmp_path / "reports", output=tmp_path / "dashboards")
    sources.reports.mkdir()
    run = "b" * 236
    (sources.reports / f"backtest-{run}.json").write_text(json.dumps(_report()))
    written = render_backtest(sources, run)
    page = sources.output / "backtests" / f"{run}.html"
    assert page in written and page.is_file()
    assert sorted(p.name for p in page.parent.iterdir()) == [page.name]


def test_text_with_no_utf8_is_written_with_a_mark_for_it(tmp_path):
    """A lone surrogate (`"\\ud800"` in a report is valid JSON) was a UnicodeEncodeError:
    the run's pages were skipped whole, and its part page left."""
    page = write_page(tmp_path / "index.html", "<p>a\ud800b</p>")
    assert page.read_text(encoding="utf-8") == "<p>a?b</p>"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]
