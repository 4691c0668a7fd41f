"""An `etl.mode: append` run reads each Parquet footer of the published dates it does not
rewrite once (session 49, after ci49a's count: its files' check at the start and the
record at its commit read every footer of the table, 9 + 10 on four dates). On an object
store each read is a round trip: a table of a year of dates paid hundreds twice a day.
Each footer read is counted per file (the real read runs). Real parts: the ETL, local
Spark, files."""

from __future__ import annotations

from collections import Counter

import pytest

import fraud_app.etl.manifest as manifest
from tests.fraud_app.features.test_incremental_build import _csv, _deliver, _project, _rows

pytestmark = pytest.mark.spark


def test_an_append_reads_each_footer_of_the_dates_it_keeps_once(spark, tmp_path, monkeypatch):
    cfg = _project(tmp_path, label_time=True)
    history = [r for d in range(1, 5) for r in _rows(d, 20, d)]
    _deliver(spark, cfg, tmp_path, "history", _csv(history, True, 4), "replace")
    table = cfg().canonical_table().rstrip("/")
    reads: Counter = Counter()
    end = manifest._end

    def counted(fs, path, size, local):
        reads[path] += 1
        return end(fs, path, size, local)

    with monkeypatch.context() as m:
        m.setattr(manifest, "_end", counted)
        _deliver(spark, cfg, tmp_path, "d5", _csv(_rows(5, 20, 5), True, 5), "append")
    kept = {p: n for p, n in reads.items() if f"{table}/event_date=" in p
            and "event_date=2024-03-05" not in p}  # fmt: skip
    assert len(kept) >= 4, reads  # every kept file is checked (start) and recorded (commit)
    assert {p.rsplit("/", 2)[-2]: n for p, n in kept.items() if n > 1} == {}
