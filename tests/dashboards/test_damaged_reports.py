"""A scoring summary or an evaluation that cannot be read (a job killed while writing it,
a file edited by hand) may be about any run's model. It failed EVERY run: each was
skipped, its pages kept the figures of their last render with no word on them, and the
index still listed them (`fraud-app score` re-renders after scoring: those failed too,
logged only). Now each run is drawn, the sections that read such reports name the file,
and the run counts as partly drawn (`fraud-app dashboards` exits 3)."""

from __future__ import annotations

import json
import re

from dashboards import render_all
from dashboards.synthetic import SyntheticRun, write_run

SMALL = SyntheticRun(run="r1", members=2, groups=6, scored_days=4, test_rows=3_000, features=8)


def _h2(text):
    return re.findall(r"<h2>(.*?)</h2>", text)


def test_a_damaged_report_of_any_model_is_named_and_every_run_is_drawn(tmp_path):
    src = write_run(tmp_path, SMALL)
    render_all(src)
    (src.reports / "scoring-job9.json").write_text('{"job_id": "job9", "model_uri": "/x/m')
    (src.reports / "evaluation-e9.json").write_text('{"model_uri": ')
    job0 = src.reports / "scoring-job0.json"  # a new day scored since the last render
    doc = json.loads(job0.read_text())
    doc["dates"][-1]["alerts"] = 4321
    job0.write_text(json.dumps(doc))
    unreadable: list[str] = []
    render_all(src, unreadable=unreadable)
    scoring = (src.output / "r1" / "scoring.html").read_text()
    total = sum(d["alerts"] for f in ("job0", "job1")
                for d in json.loads((src.reports / f"scoring-{f}.json").read_text())["dates"])  # fmt: skip
    assert f"{total:,} alerts in" in scoring  # drawn from today's files, not the last render's
    assert _h2(scoring)[:3] == ["Scoring summaries", "Scoring jobs", "Alerts and mean score"]
    assert f"Not drawn: {src.reports / 'scoring-job9.json'}: cannot read it as JSON" in scoring
    quality = (src.output / "r1" / "model-quality.html").read_text()
    assert _h2(quality)[0] == "Headline figures" and _h2(quality)[-1] == "Saved evaluations"
    assert f"Not drawn: {src.reports / 'evaluation-e9.json'}: cannot read it as JSON" in quality
    assert sorted(line.split(": cannot")[0] for line in unreadable) == [
        f"run r1: {src.reports / 'evaluation-e9.json'}",
        f"run r1: {src.reports / 'scoring-job9.json'}",
    ]
    assert all("it may be about this run's model" in line for line in unreadable)
