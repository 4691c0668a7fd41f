"""The dashboards read what the workflow really writes: validation reports under the names
`ValidationReport.save` gives them, and damaged Parquet named in one line (no traceback)."""

from __future__ import annotations

import json
import os
import re

import pytest

from dashboards import render_all, render_run
from dashboards.assets import plotly_name
from dashboards.errors import DashboardInputError
from dashboards.sources import Sources, load_run
from fraud_app.validation.report import ValidationReport
from fraud_app.validation.runner import CheckResult


def _check(name: str, success: bool) -> CheckResult:
    return CheckResult(
        name=name, expectation="ExpectColumnValuesToNotBeNull", column="amount",
        severity="error", success=success, observed=None, unexpected_count=0 if success else 4,
        unexpected_percent=0.0 if success else 0.4, examples=(), error=None,
    )  # fmt: skip


def _validation(reports, suite: str, checked_at: str, run: str | None, *, success=True):
    report = ValidationReport(suite, f"work/{suite}", checked_at, (_check(checked_at, success),))
    return report.save(reports, run)


def _training(reports, run: str, mtime: float, **fields):
    path = reports / f"training-{run}.json"
    path.write_text(json.dumps({"run": run, "members": [], **fields}))
    os.utime(path, (mtime, mtime))


@pytest.fixture
def reports(tmp_path):
    path = tmp_path / "reports"
    path.mkdir()
    return path


def _h2(path) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", path.read_text())


def test_the_reports_validate_writes_are_on_the_data_quality_page(reports, tmp_path):
    # validate names its reports <suite>_validation-<UTC time>.json: the page showed none
    _validation(reports, "canonical", "2024-03-01T10:00:00+00:00", None)
    _validation(reports, "features", "2024-03-01T10:05:00+00:00", None, success=False)
    _training(reports, "r1", mtime=1709287800.0)  # 2024-03-01T10:10:00Z
    sources = Sources(reports=reports, output=tmp_path / "out")
    render_run(sources, "r1")
    page = tmp_path / "out" / "r1" / "data-quality.html"
    assert _h2(page) == ["Validation: canonical suite passed", "Validation: features suite FAILED"]
    assert "Report: canonical_validation-20240301T100000Z.json." in page.read_text()


def test_each_run_shows_the_checks_of_its_own_data(reports, tmp_path):
    _validation(reports, "canonical", "2024-03-01T10:00:00+00:00", None, success=False)
    _training(reports, "first", mtime=1709287800.0)  # 10:10
    _validation(reports, "canonical", "2024-03-02T10:00:00+00:00", None)
    _training(reports, "second", mtime=1709374200.0)  # 03-02 10:10
    _validation(reports, "canonical", "2024-03-03T10:00:00+00:00", None, success=False)
    _validation(reports, "canonical", "2024-03-01T09:00:00+00:00", "second")  # named for it
    sources = Sources(reports=reports, output=tmp_path / "out")
    checked = {
        run: [v["checked_at"] for v in load_run(sources, run).validations]
        for run in ("first", "second")
    }
    # the newest checked before the run's report; a report under the run's own name first
    assert checked == {
        "first": ["2024-03-01T10:00:00+00:00"],
        "second": ["2024-03-01T09:00:00+00:00"],
    }


def test_copied_files_still_pick_the_newest_checks(reports, tmp_path):
    # a copied directory has new file times: the time inside the reports decides
    _validation(reports, "canonical", "2024-03-02T10:00:00+00:00", None)
    _validation(reports, "canonical", "2024-03-01T10:00:00+00:00", None, success=False)
    _training(reports, "r1", mtime=1.0)  # older than every check
    got = load_run(Sources(reports=reports, output=tmp_path / "out"), "r1").validations
    assert [v["checked_at"] for v in got] == ["2024-03-02T10:00:00+00:00"]


def test_a_copied_reports_folder_keeps_each_runs_finish_time(reports, tmp_path):
    # left50a: the index's `trained` and the choice of a run's data checks read the training
    # report's file time: a folder copied on 03-05 (cp without -p) said every run trained
    # then, and took the checks made on 03-02, after r1 had trained, for r1's
    copied = 1709632800.0  # 2024-03-05T10:00:00Z
    _validation(reports, "canonical", "2024-03-01T10:00:00+00:00", None)
    _validation(reports, "canonical", "2024-03-02T10:00:00+00:00", None, success=False)
    _training(reports, "r1", mtime=copied, finished_at="2024-03-01T10:10:00+00:00")
    _training(reports, "old", mtime=copied)  # written before finished_at: the file's time
    _training(reports, "odd", mtime=copied, finished_at="yesterday")  # no time: the file's
    sources = Sources(reports=reports, output=tmp_path / "out")
    got = load_run(sources, "r1").validations
    assert [v["checked_at"] for v in got] == ["2024-03-01T10:00:00+00:00"]
    for run in ("old", "odd"):
        got = load_run(sources, run).validations
        assert [v["checked_at"] for v in got] == ["2024-03-02T10:00:00+00:00"]
    render_all(sources)
    rows = re.findall(
        r"<tr><td>(\w+)</td><td>([^<]*)</td>", (tmp_path / "out" / "index.html").read_text()
    )
    assert dict(rows) == {
        "r1": "2024-03-01 10:10 UTC", "old": "2024-03-05 10:00 UTC", "odd": "2024-03-05 10:00 UTC",
    }  # fmt: skip


@pytest.mark.parametrize("stamp", ["9999-12-31T23:30:00-01:00", "0001-01-01T00:30:00+01:00"])
def test_a_finish_time_beyond_the_calendar_in_utc_is_the_file_s_time(reports, tmp_path, stamp):
    # review50f: a `finished_at` that parses but whose UTC time is outside year 1-9999 raised
    # ValueError ("year 10000 is out of range") out of trained_at: render_all stopped, no
    # page and no index, where a value that is no time falls back to the file's time
    copied = 1709632800.0  # 2024-03-05T10:00:00Z
    _validation(reports, "canonical", "2024-03-01T10:00:00+00:00", None)
    _training(reports, "edge", mtime=copied, finished_at=stamp)
    sources = Sources(reports=reports, output=tmp_path / "out")
    got = load_run(sources, "edge").validations
    assert [v["checked_at"] for v in got] == ["2024-03-01T10:00:00+00:00"]
    render_all(sources)
    rows = re.findall(
        r"<tr><td>(\w+)</td><td>([^<]*)</td>", (tmp_path / "out" / "index.html").read_text()
    )
    assert dict(rows) == {"edge": "2024-03-05 10:00 UTC"}


def test_a_broken_validation_report_is_skipped_with_a_warning(reports, tmp_path, caplog):
    _validation(reports, "canonical", "2024-03-01T10:00:00+00:00", None)
    (reports / "canonical_validation-old.json").write_text("{broken")
    _training(reports, "r1", mtime=1709287800.0)
    got = load_run(Sources(reports=reports, output=tmp_path / "out"), "r1").validations
    assert [v["_file"] for v in got] == ["canonical_validation-20240301T100000Z.json"]
    assert "canonical_validation-old.json: cannot read it as JSON" in caplog.text


def test_a_damaged_quarantine_file_is_named_not_a_traceback(reports, tmp_path):
    _training(reports, "r1", mtime=1709287800.0)
    quarantine = tmp_path / "quarantine"
    quarantine.mkdir()
    (quarantine / "part-00000.parquet").write_bytes(b"PAR1 not really parquet")
    sources = Sources(reports=reports, output=tmp_path / "out", quarantine=quarantine)
    # kept for its sections (tests/dashboards/test_damaged_parquet.py), not the run's end
    data = load_run(sources, "r1")
    assert data.quarantine_sample is None
    assert data.unreadable["quarantine"].startswith(
        f"{quarantine / 'part-00000.parquet'}: cannot read it as Parquet ("
    )


def test_values_of_another_type_leave_a_message_not_a_traceback(small_run):
    # text where the training report has numbers: a TypeError / ValueError ended the command
    path = small_run.reports / "training-r1.json"
    report = json.loads(path.read_text())
    report["metrics"]["test"].update(rows="abc", roc_auc="n/a")
    report["members"][0]["history"][0]["wall_s"] = "slow"
    path.write_text(json.dumps(report))
    render_all(small_run)
    run_dir = small_run.output / "r1"
    training = (run_dir / "training.html").read_text()
    assert "This page could not be drawn" in training
    assert "does not follow the layout its step writes (ValueError: could not convert" in training
    assert "<td>abc</td>" in (run_dir / "index.html").read_text()
    assert "Validation: canonical suite passed" in (run_dir / "data-quality.html").read_text()


def test_one_unreadable_training_report_leaves_the_other_runs_and_the_index(
    reports, tmp_path, caplog
):
    _training(reports, "good", mtime=1709287800.0)
    (reports / "training-broken.json").write_text('{"run": "brok')  # killed while writing
    sources = Sources(reports=reports, output=tmp_path / "out")
    written = render_all(sources)
    assert tmp_path / "out" / "good" / "index.html" in written
    index = (tmp_path / "out" / "index.html").read_text()
    assert 'href="good/index.html"' in index and "broken" not in index
    assert "run broken skipped: " in caplog.text and "training-broken.json" in caplog.text
    with pytest.raises(DashboardInputError, match=r"training-broken.json: cannot read it as JSON"):
        render_all(sources, ["broken"])  # asked for by name: the error is the answer


def test_runs_named_like_the_outputs_own_files_get_folders_of_their_own(reports, tmp_path):
    # valid run names; `index.html` made the top index a directory (IsADirectoryError)
    names = ["index.html", "backtests", "plotly.min.js", "assets", "r1"]
    for k, run in enumerate(names):
        _training(reports, run, mtime=1709287800.0 + k)
    out = tmp_path / "out"
    render_all(Sources(reports=reports, output=out))
    index = (out / "index.html").read_text()
    assert (out / "plotly.min.js").is_file() is False and (out / "index.html").is_file()
    assert [p.name for p in (out / "assets").iterdir()] == [plotly_name()]  # the shared file
    for run, folder in zip(
        names, ["_index.html", "_backtests", "_plotly.min.js", "_assets", "r1"], strict=True
    ):
        assert f'<a href="{folder}/index.html">{run}</a>' in index
        assert f"Run {run}" in (out / folder / "index.html").read_text()


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r.update(members=5),
        lambda r: r.update(metrics={"test": 0.9}),
        lambda r: r.update(metrics=[1, 2]),
        lambda r: r.update(registry="champion"),
    ],
)
def test_a_report_field_of_another_shape_leaves_the_run_index_and_the_top_index(small_run, edit):
    # `members: 5` was a TypeError out of render_all (the run's index and the top index):
    # a traceback from `fraud-app dashboards` and no index for any run
    path = small_run.reports / "training-r1.json"
    report = json.loads(path.read_text())
    edit(report)
    path.write_text(json.dumps(report))
    render_all(small_run)
    assert (small_run.output / "r1" / "index.html").is_file()
    assert 'href="r1/index.html"' in (small_run.output / "index.html").read_text()


def test_a_check_without_a_share_of_rows_shows_none(reports, tmp_path):
    """A check with no non-null row to count (an empty or all-null column) has
    `unexpected_percent` null (GX's NaN, fraud_app.validation): the page wrote `0 rows
    (0.00%)` as if a share had been measured."""
    empty = CheckResult(
        name="amount:range", expectation="ExpectColumnValuesToBeBetween", column="amount",
        severity="error", success=True, observed=None, unexpected_count=0,
        unexpected_percent=None, examples=(), error=None,
    )  # fmt: skip
    measured = CheckResult(**{**empty.__dict__, "name": "amount:not_null",
                              "unexpected_count": 3, "unexpected_percent": 0.25})  # fmt: skip
    ValidationReport("canonical", "work/c", "2024-03-01T10:00:00+00:00", (empty, measured)).save(
        reports, None
    )
    _training(reports, "r1", mtime=1709287800.0)
    render_run(Sources(reports=reports, output=tmp_path / "out"), "r1")
    page = (tmp_path / "out" / "r1" / "data-quality.html").read_text()
    cells = {
        m.group(1): m.group(2)
        for m in re.finditer(r"<tr[^>]*><td>(amount:[a-z_]+)</td>.*?<td>([^<]*)</td></tr>", page)
    }
    assert cells == {"amount:range": "0 rows", "amount:not_null": "3 rows (0.25%)"}


def test_the_index_lists_runs_by_their_finish_time_not_the_files_times(reports, tmp_path):
    # session 51: a reports/ folder restored by a copy that wrote the newest run's report
    # first listed the runs as "newest first" by file time: 03-01 above 03-03 above 03-02
    _training(reports, "b", mtime=1709632800.0, finished_at="2024-03-03T08:00:00+00:00")
    _training(reports, "c", mtime=1709632801.0, finished_at="2024-03-02T08:00:00+00:00")
    _training(reports, "a", mtime=1709632802.0, finished_at="2024-03-01T08:00:00+00:00")
    render_all(Sources(reports=reports, output=tmp_path / "out"))
    page = (tmp_path / "out" / "index.html").read_text()
    rows = re.findall(r"<tr><td>(\w+)</td><td>([^<]*)</td>", page)
    assert [run for run, _ in rows] == ["b", "c", "a"], rows
    assert re.findall(r'<li><a href="(\w+)/index.html">', page) == ["b", "c", "a"]
