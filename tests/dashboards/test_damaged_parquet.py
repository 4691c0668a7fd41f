"""One damaged Parquet file of a run's data (test scores, canonical table, quarantine)
skipped all five pages of that run; now only the sections that read it show a one-line
error naming the file, and `fraud-app dashboards` says on stderr what was not drawn and
exits 3 (pages written, something left out)."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
import yaml

from dashboards import render_all
from dashboards.synthetic import SyntheticRun, write_run
from tests.dashboards.test_render import SECTIONS

SMALL = SyntheticRun(run="r1", members=2, groups=6, scored_days=4, test_rows=3_000, features=8)


def _damage(path):
    """Cut a real Parquet file in half: its footer (schema, row groups) is gone."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _h2(text):
    return re.findall(r"<h2>(.*?)</h2>", text)


def _page(src, name):
    return (src.output / "r1" / name).read_text()


def test_damaged_test_scores_leave_every_other_section_and_page(tmp_path):
    src = write_run(tmp_path, SMALL)
    bad = _damage(src.scores / "r1" / "part-00000.parquet")
    unreadable: list[str] = []
    render_all(src, unreadable=unreadable)
    quality = _page(src, "model-quality.html")
    assert _h2(quality)[:2] == ["Headline figures", "Registry decision: champion"]
    assert "Test-window scores" in _h2(quality) and "Precision-recall" not in _h2(quality)
    assert f"Not drawn: {bad}: cannot read it as Parquet (" in quality
    for name in ("training.html", "data-quality.html"):
        assert _h2(_page(src, name)) == SECTIONS[name]
    assert unreadable == [
        f"run r1: {bad}: cannot read it as Parquet ({unreadable[0].split('(', 1)[1]}"
    ]
    assert '"r1/index.html"' in (src.output / "index.html").read_text()


@pytest.mark.parametrize("lacking", [["label"], ["label", "fraud_score"]])
def test_test_scores_without_a_column_the_curves_read_are_named(tmp_path, lacking):
    """Test scores that are Parquet but lack `label` or `fraud_score` (another table put
    there): the curves, histogram and threshold table were left out with no word on the
    page, and the render counted nothing as not drawn (exit 0)."""
    src = write_run(tmp_path, SMALL)
    path = src.scores / "r1" / "part-00000.parquet"
    pd.read_parquet(path).drop(columns=lacking).to_parquet(path, index=False)
    unreadable: list[str] = []
    render_all(src, unreadable=unreadable)
    quality = _page(src, "model-quality.html")
    assert "Test-window scores" in _h2(quality) and "Precision-recall" not in _h2(quality)
    said = f"{src.scores / 'r1'}: no column {', '.join(lacking)}; the test-window scores"
    assert f"Not drawn: {said}" in quality
    assert len(unreadable) == 1 and unreadable[0].startswith(f"run r1: {said}")


def test_a_damaged_quarantine_or_canonical_file_takes_out_only_its_section(tmp_path):
    src = write_run(tmp_path, SMALL)
    q = _damage(src.quarantine / "part-00000.parquet")
    day = _damage(src.canonical / "event_date=2024-01-05" / "part-00000.parquet")
    unreadable: list[str] = []
    render_all(src, unreadable=unreadable)
    data = _page(src, "data-quality.html")
    assert _h2(data) == SECTIONS["data-quality.html"]  # every section, two with an error
    assert f"Not drawn: {q}: cannot read it as Parquet" in data  # the sample, not the chart
    assert "Quarantined rows by reason" in data
    assert f"Not drawn: {day}: cannot read it as Parquet" in data
    assert _h2(_page(src, "model-quality.html")) == SECTIONS["model-quality.html"]
    assert len(unreadable) == 2 and str(q) in unreadable[1] and str(day) in unreadable[0]


@pytest.mark.parametrize("flag", [[], ["--run", "r1"]])
def test_the_cli_names_what_was_not_drawn_and_exits_3(tmp_path, capsys, flag):
    """The pages are written, and the exit status tells a scheduler that a section was
    left out (it exited 0: a cron job or an Airflow task saw success)."""
    from pipelines.cli import main

    src = write_run(tmp_path, SMALL)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"paths": {"root": str(tmp_path)},
                                      "tracking": {"enabled": False}}))  # fmt: skip
    assert main(["-c", str(config), "dashboards", *flag]) == 0  # every section drawn
    capsys.readouterr()
    bad = _damage(src.scores / "r1" / "part-00000.parquet")
    assert main(["-c", str(config), "dashboards", *flag]) == 3
    out, err = capsys.readouterr()
    assert "dashboard pages written" in out
    assert f"warning: not drawn: run r1: {bad}: cannot read it as Parquet (" in err
    assert (
        err.splitlines()[-1]
        == "fraud-app: 1 section(s) not drawn (see the warnings); exit status 3"
    )
    assert (src.output / "r1" / "model-quality.html").is_file()


def test_test_scores_not_found_are_said(tmp_path):
    """A run whose test scores are not there (a copied reports folder, a run trained with
    paths.test_scores elsewhere): the curves, histogram and threshold table were left
    out with no word. Not an error (exit 0): nothing was read wrong."""
    src = write_run(tmp_path, SMALL)
    shutil.rmtree(src.scores / "r1")
    unreadable: list[str] = []
    render_all(src, unreadable=unreadable)
    quality = _page(src, "model-quality.html")
    assert "Test-window scores" in _h2(quality) and "Precision-recall" not in _h2(quality)
    assert f"None at {src.scores / 'r1'}: the curves, score distributions" in quality
    assert unreadable == []
