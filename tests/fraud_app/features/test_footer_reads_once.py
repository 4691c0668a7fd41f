"""A `features` run reads each Parquet footer of its own table once (session 49).

A full build counted the rows it wrote from their footers and then read the same footers
again for `_files.json`; an incremental build read every footer of the table for the
`_files.json` check of its plan and then the kept dates' ones again to count their rows.
On an object store each read is a round trip (tens of ms), on a table of a year of dates
twice hundreds of them a day. The run now reads them through one FooterCache. Each
footer read is counted per file (the real read runs); the canonical table's footers (its
own `_files.json` check) are left out: they are other files, read once. Real parts: the
ETL, local Spark, files."""

from __future__ import annotations

from collections import Counter

import pytest

import fraud_app.etl.manifest as manifest
from fraud_app.features.pipeline import build_feature_table
from tests.fraud_app.features.test_incremental_build import _csv, _deliver, _project, _rows

pytestmark = pytest.mark.spark


def _reads(spark, monkeypatch, config) -> tuple[Counter, dict]:
    """(footer reads per file of the feature table and its staging, the build's report)."""
    reads: Counter = Counter()
    end = manifest._end

    def counted(fs, path, size, local):
        reads[path] += 1
        return end(fs, path, size, local)

    canonical = config.canonical_table().rstrip("/")
    with monkeypatch.context() as m:
        m.setattr(manifest, "_end", counted)
        summary = build_feature_table(spark, config)
    return Counter({p: n for p, n in reads.items() if canonical not in p}), summary.extra["build"]


def test_a_build_reads_each_footer_of_its_table_once(spark, tmp_path, monkeypatch):
    cfg = _project(tmp_path, label_time=True)
    days = {d: _rows(d, 20, d) for d in range(1, 6)}
    history = [r for d in range(1, 5) for r in days[d]]
    _deliver(spark, cfg, tmp_path, "history", _csv(history, True, 4), "replace")

    reads, build = _reads(spark, monkeypatch, cfg())
    assert build["mode"] == "full", build
    # the 4 dates' files: counted for the rows, then recorded, from one read each
    assert len(reads) >= 4, reads
    full = {p.rsplit("/", 2)[-2]: n for p, n in reads.items() if n > 1}

    _deliver(spark, cfg, tmp_path, "d5", _csv(days[5], True, 5), "append")
    reads, build = _reads(spark, monkeypatch, cfg())
    assert build["mode"] == "incremental" and build["from"] == "2024-03-05", build
    table = cfg().feature_table().rstrip("/")
    kept = [p for p in reads if "/_staging/" not in p and "event_date=2024-03-05" not in p]
    # the kept dates' files: checked against `_files.json` and counted, one read each
    assert len(kept) >= 4 and all(table in p for p in kept), reads
    incremental = {p.rsplit("/", 2)[-2]: n for p, n in reads.items() if n > 1}
    # the folders of the files read more than once, and how often, in each build
    assert (full, incremental) == ({}, {})
