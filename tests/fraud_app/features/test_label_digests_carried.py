"""`features`' per-date row digests (fraud_app.features.label_changes, session 33) hashed
every canonical row in every run, full or incremental: ~1.5-2.3 s per 1M rows (review33).
An incremental build now hashes the rows of the dates whose files changed and carries the
others' digests from the table's record (session 34): the recorded digests equal those of
a full rebuild of the same canonical table (which hashes every date), after an append, a
late label and a run with nothing changed, and the labels-only start still works.

One full rebuild (was three, session 52): the append's date and the digests it carried are
compared after the late label's step, which rewrites 2024-03-02 alone and carries the
others' digests from the record the append wrote (a wrong one carried again, a missing one
counted by the append's own check); the run with nothing changed writes nothing, so its
table and `_features.json` are checked unchanged against that compare instead of a third
rebuild of the same canonical table."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fraud_app.etl.labels import run_labels
from tests.fraud_app.features.test_incremental_build import (
    _build,
    _csv,
    _deliver,
    _meta,
    _part_files,
    _project,
    _rows,
    _same_as_full,
)

pytestmark = pytest.mark.spark
LOGGER = "fraud_app.features.label_changes"


def _hashed(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and "row digests" in r.msg]


def test_only_changed_dates_are_hashed_and_the_digests_equal_a_full_rebuild(
    spark, tmp_path, caplog
):
    cfg = _project(tmp_path, True)
    days = {d: _rows(d, 20, d) for d in range(1, 8)}
    late = dict(days[2][1])
    days[2][1]["label"] = days[2][1]["label_time"] = ""  # delivered unlabelled
    history = [r for d in range(1, 7) for r in days[d]]
    _deliver(spark, cfg, tmp_path, "history", _csv(history, True, 6), "replace")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        build, _ = _build(spark, cfg(), caplog)
        assert build["mode"] == "full" and _hashed(caplog) == []  # a full build: every date
        recorded = json.loads((Path(cfg().feature_table()) / "_features.json").read_text())
        assert len(recorded["incremental"]["digests"]) == 6

        _deliver(spark, cfg, tmp_path, "day7", _csv(days[7], True, 7), "append")
        build, _ = _build(spark, cfg(), caplog)
        assert build["mode"] == "incremental" and build["changed_dates"] == ["2024-03-07"]
        assert _hashed(caplog) == [
            "features: row digests (for dates changed only in labels) of 1 date(s) computed, "
            "6 carried from the table's record (their files unchanged)"
        ]  # was: every date's rows hashed
        assert len(_meta(cfg().feature_table())["incremental"]["digests"]) == 7
        files = _part_files(cfg().feature_table())

        late.update(label="0", label_time="2024-03-07 09:00:00")
        feed = tmp_path / "feed.csv"
        feed.write_text(f"transaction_id,label,label_time\n{late['transaction_id']},0,"
                        f"{late['label_time']}\n")  # fmt: skip
        run_labels(spark, cfg(), [str(feed)])
        build, _ = _build(spark, cfg(), caplog)
        assert build["from"] is None and build["labels_only"] == ["2024-03-02"], build
        assert "of 1 date(s) computed, 6 carried" in _hashed(caplog)[0]
        # the late label's step rewrote 2024-03-02 alone: the append's 03-07 is compared here
        now = _part_files(cfg().feature_table())
        assert {d for d in now if now[d] != files[d]} == {"2024-03-02"}, (files, now)
        _same_as_full(spark, cfg, tmp_path, "labels")
        table = Path(cfg().feature_table())
        written = (table / "_features.json").read_text()

        build, _ = _build(spark, cfg(), caplog)  # nothing changed: nothing hashed
        assert build["mode"] == "incremental" and build["changed_dates"] == []
        assert "of 0 date(s) computed, 7 carried" in _hashed(caplog)[0]
        # nothing written: the table and its record are the ones compared above
        assert _part_files(str(table)) == now
        assert (table / "_features.json").read_text() == written
