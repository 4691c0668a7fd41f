"""`fraud-app prune` keeps each validated table's newest report (helper probe49c, session
49). The report's file name holds only the suite (`features_validation-<time>.json`), and
the reports were grouped by it: two feature tables validated with the feature suite
(`validate --table features --input OTHER`) were one family, so `validation_reports:
{keep_last: 1}` removed the main table's newest report when the other one was checked
later. Real report files under paths.root, no Spark."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from fraud_app.config import load_config
from fraud_app.retention.config import KeepRule
from fraud_app.retention.plan import decide
from pipelines.prune.inventory import validation_reports

NOW = dt.datetime.now(dt.UTC)


def _report(root: Path, suite: str, run: str, table: str | None, days: float) -> None:
    reports = root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    doc = {"suite": suite, "run": run, "results": []}
    if table is not None:
        doc["table"] = table
    for ext, text in (("json", json.dumps(doc, ensure_ascii=False)), ("html", "<html></html>")):
        path = reports / f"{suite}_validation-{run}.{ext}"
        path.write_text(text, encoding="utf-8")
        when = (NOW - dt.timedelta(days=days)).timestamp()
        os.utime(path, (when, when))


def _removed(root: Path, rule: KeepRule) -> set[str]:
    config = load_config(None, {"paths.root": str(root)})
    kind = validation_reports(config)
    return {d.item.name for d in decide(kind.items, rule, NOW, kind.protected) if d.remove}


def test_each_tables_newest_report_is_kept(tmp_path) -> None:
    main, other = "/data/features", "/data/features-émea"
    _report(tmp_path, "features", "20240101T000000Z", main, days=30)
    _report(tmp_path, "features", "20240102T000000Z", main, days=20)  # main's newest
    _report(tmp_path, "features", "20240103T000000Z", other, days=10)
    _report(tmp_path, "features", "20240104T000000Z", other + "/", days=5)  # the same table
    _report(tmp_path, "canonical", "20240101T000000Z", "/data/canonical", days=30)
    _report(tmp_path, "canonical", "20240102T000000Z", "/data/canonical", days=20)
    removed = _removed(tmp_path, KeepRule(keep_last=1))
    assert removed == {
        "features_validation-20240101T000000Z",
        "features_validation-20240103T000000Z",
        "canonical_validation-20240101T000000Z",
    }


def test_a_report_naming_no_table_counts_with_its_suite(tmp_path) -> None:
    """A cut or hand-written report (no `table`) is one family per suite, as before."""
    _report(tmp_path, "features", "20240101T000000Z", None, days=30)
    _report(tmp_path, "features", "20240102T000000Z", None, days=20)
    cut = tmp_path / "reports" / "features_validation-20240100T000000Z.json"
    cut.write_text("{cut", encoding="utf-8")
    os.utime(cut, (0, (NOW - dt.timedelta(days=40)).timestamp()))
    removed = _removed(tmp_path, KeepRule(keep_last=1))
    assert removed == {
        "features_validation-20240100T000000Z",
        "features_validation-20240101T000000Z",
    }
