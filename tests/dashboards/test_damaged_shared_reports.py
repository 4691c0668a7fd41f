"""A damaged report every run reads: the ETL report (`canonical/_etl_report.json`), the
feature table's (`features/_features.json`), or a data-check report (`*_validation-*.json`).
The first two failed EVERY run (`run r1 skipped whole`): the pages of the last render,
figures of the day before, stayed with no word on them; a data-check report was logged and
skipped, exit 0, and the page showed another day's checks or none. Now each run is drawn
and the data-quality page names the file (`Not drawn: ...`), and the run counts as partly
drawn (`fraud-app dashboards` exits 3)."""

from __future__ import annotations

import pytest

from dashboards import render_all


@pytest.mark.parametrize(
    ("damaged", "title"),
    [
        ("canonical/_etl_report.json", "ETL report"),
        ("features/_features.json", "Feature table report"),
        ("reports/canonical_validation-20240301T000000Z.json", "Data checks"),
    ],
)
def test_a_damaged_report_of_every_run_is_named_on_its_page(small_run, damaged, title):
    path = small_run.reports.parent / damaged
    path.write_text(path.read_text()[:10])  # cut while written
    unreadable: list[str] = []
    render_all(small_run, unreadable=unreadable)
    assert len(unreadable) == 1 and "skipped whole" not in unreadable[0]
    assert f"{path.name}: cannot read it as JSON" in unreadable[0]
    out = small_run.output / "r1"
    page = (out / "data-quality.html").read_text()
    assert f"<h2>{title}" in page and f"Not drawn: {path}" in page
    assert "Rows per step" in page  # what else it reads is drawn
    assert "ensemble (AP" in (out / "model-quality.html").read_text()  # the other pages too
