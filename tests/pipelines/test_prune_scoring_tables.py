"""`fraud-app prune` keeps each scores table's newest scoring reports (review49c, session
49). The report's file name holds only the job id (`scoring-<job>.json`) and all reports
were one family: a production daily job writing /data/scores and a shadow job scoring a
challenger into /data/scores-challenger shared `scoring_reports: {keep_last: N}`, so the
shadow job's newer reports removed the production job's newest. Families are now the
table the job wrote (the report's `output`), as validation reports are per validated
table. Real report files under paths.root, no Spark."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from fraud_app.config import load_config
from fraud_app.retention.config import KeepRule
from fraud_app.retention.plan import decide
from pipelines.prune.inventory import scoring_reports

NOW = dt.datetime.now(dt.UTC)


def _report(root: Path, job: str, output: str | None, days: float, text: str | None = None):
    reports = root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    doc = {"job_id": job, "model_name": "fraud", "dates": []}
    if output is not None:
        doc["output"] = output
    path = reports / f"scoring-{job}.json"
    path.write_text(text if text is not None else json.dumps(doc), encoding="utf-8")
    when = (NOW - dt.timedelta(days=days)).timestamp()
    os.utime(path, (when, when))


def _removed(root: Path, rule: KeepRule) -> set[str]:
    config = load_config(None, {"paths.root": str(root)})
    kind = scoring_reports(config)
    return {d.item.name for d in decide(kind.items, rule, NOW, kind.protected) if d.remove}


def test_each_scores_tables_newest_reports_are_kept(tmp_path) -> None:
    prod, shadow = "/data/scores", "/data/scores-challenger"
    for day in (5, 4, 3):  # the daily production job
        _report(tmp_path, f"prod-{day}", prod, days=day + 0.5)
    for day in (3, 2, 1):  # the shadow job, scored after it each day
        # the same table however the job spelt it: file:/x, file:///x/, /x/
        spelt = {3: "file:" + shadow, 2: "file://" + shadow + "/", 1: shadow + "/"}[day]
        _report(tmp_path, f"shadow-{day}", spelt, days=day)
    removed = _removed(tmp_path, KeepRule(keep_last=2))
    assert removed == {"scoring-prod-5", "scoring-shadow-3"}


def test_a_report_naming_no_output_counts_with_the_others_of_its_kind(tmp_path) -> None:
    """A cut report (unreadable) or one without `output`: one family, as before."""
    _report(tmp_path, "a", None, days=30)
    _report(tmp_path, "b", None, days=20, text="{cut")
    _report(tmp_path, "c", None, days=10)
    _report(tmp_path, "d", "/data/scores", days=40)
    removed = _removed(tmp_path, KeepRule(keep_last=1))
    assert removed == {"scoring-a", "scoring-b"}
