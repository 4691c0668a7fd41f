"""The incremental feature build against changes its record might not see (session 32,
probe32e). Each step is followed by the incremental build and compared with a full
rebuild of the same canonical table (test_incremental_build._same_as_full: row for row,
value for value, and `_features.json`). Real parts: the ETL, local Spark, files."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.fraud_app.features.test_incremental_build import (
    _build,
    _csv,
    _deliver,
    _project,
    _rows,
    _same_as_full,
)

pytestmark = pytest.mark.spark


def test_a_canonical_file_rewritten_under_its_own_name_is_recomputed(spark, tmp_path, caplog):
    """A canonical file rewritten by hand under its own name (amounts corrected), its
    `_files.json` then deleted as the integrity error says to accept it: the names are
    the same, the rows are not. Was: `up to date ... nothing recomputed`, the table's
    features of the old amounts, without a word."""
    cfg = _project(tmp_path, True)
    rows = [r for d in range(1, 7) for r in _rows(d, 20, d)]
    _deliver(spark, cfg, tmp_path, "history", _csv(rows, True, 6), "replace")
    _build(spark, cfg(), caplog)
    canonical = Path(cfg().canonical_table())
    part = next((canonical / "event_date=2024-03-04").glob("*.parquet"))
    table = pq.read_table(part)
    column = table.schema.get_field_index("amount")
    table = table.set_column(column, "amount", pc.multiply(table["amount"], 3.0))
    pq.write_table(table, part, use_deprecated_int96_timestamps=True)
    (part.parent / f".{part.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum
    (canonical / "_files.json").unlink()
    with caplog.at_level(logging.INFO):
        build, log = _build(spark, cfg(), caplog)
    assert build["mode"] == "incremental" and build["from"] == "2024-03-04", build
    assert build["changed_dates"] == ["2024-03-04"], build
    assert "recomputing the dates from 2024-03-04" in log
    _same_as_full(spark, cfg, tmp_path, "rewritten")
