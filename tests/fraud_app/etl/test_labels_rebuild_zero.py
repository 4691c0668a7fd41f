"""A feed fills an unlabelled row with 1 (a chargeback), then the export delivers that row
with 0 ("no dispute yet") and a replace rebuild runs (session 25 probes). `fraud-app
labels` on the rebuilt table corrects such a 0 to 1; the rebuild quarantined the ledger's
1 as `conflicting_label` and published the 0: a known fraud lost by a rebuild (a WARNING
only), while an append of the same export kept the 1. Now the rebuild takes it as the
correction it is: known at its label_time, else when its labels run applied it. Real
Spark, the real ETL and labels runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,timestamp,amount,label,label_time\n"
UNLABELLED = "x1,c1,2024-01-05 10:00:00,1.5,,\nx2,c1,2024-01-05 11:00:00,2.5,,\n"
# the export's later delivery: 0 for both, x1 known 2024-01-06, x2 at timestamp + 7 d
ZERO = "x1,c1,2024-01-05 10:00:00,1.5,0,2024-01-06 00:30:00\nx2,c1,2024-01-05 11:00:00,2.5,0,\n"


def _config(base: Path, **etl):
    etl = {"input": str(base / "raw"), **etl}
    return load_config(None, {"paths.root": str(base / "work"), "etl": etl})


def _labels(spark, table: str) -> dict[str, tuple]:
    rows = spark.read.parquet(table).select(
        "transaction_id", "label", F.date_format("label_time", "yyyy-MM-dd HH:mm:ss")
    )
    return {r[0]: (r[1], r[2]) for r in rows.collect()}


def _fed_then_zero(spark, base: Path) -> None:
    """UNLABELLED published, x1 filled with 1 (label_time 2024-01-20), x2 with 1 by a
    delay-only feed, then etl.input replaced by ZERO."""
    (base / "raw").mkdir()
    (base / "raw" / "a.csv").write_text(HEADER + UNLABELLED)
    run_etl(spark, _config(base))
    (base / "f1.csv").write_text("transaction_id,label,label_time\nx1,1,2024-01-20 00:30:00\n")
    (base / "f2.csv").write_text("transaction_id,label\nx2,1\n")
    for feed in ("f1.csv", "f2.csv"):
        assert run_labels(spark, _config(base), [str(base / feed)]).labels_filled == 1
    (base / "raw" / "a.csv").write_text(HEADER + ZERO)


@pytest.fixture(scope="module")
def fed(spark, tmp_path_factory) -> Path:
    """_fed_then_zero once for the module (three runs); each test rebuilds its own copy
    (`_copy`). Fills, so the same under either etl.label_corrections (which decides what a
    label OTHER than the published one does; the fills under `quarantine`:
    test_labels_corrections.py)."""
    base = tmp_path_factory.mktemp("fed")
    _fed_then_zero(spark, base)
    return base


def _copy(fed: Path, tmp_path: Path) -> str:
    """A copy of `fed` as tmp_path (raw/, the feeds, work/; copy2 keeps mtimes); the
    table's path."""
    shutil.copytree(fed, tmp_path, dirs_exist_ok=True)
    return str(tmp_path / "work" / "canonical")


def test_a_filled_fraud_over_the_exports_later_zero_is_a_correction(spark, fed, tmp_path):
    table = _copy(fed, tmp_path)
    applied = spark.read.parquet(f"{table}/_labels_ledger").filter("transaction_id = 'x2'")
    x2_known = applied.select(F.date_format("applied_at", "yyyy-MM-dd HH:mm:ss")).first()[0]
    rebuilt = run_etl(spark, _config(tmp_path))
    assert (rebuilt.corrections_reapplied, rebuilt.ledger_quarantined) == (2, {})
    assert _labels(spark, table) == {"x1": (1, "2024-01-20 00:30:00"), "x2": (1, x2_known)}
    # `fraud-app labels` with the same feeds on the rebuilt table: nothing left to do
    again = run_labels(
        spark, _config(tmp_path), [str(tmp_path / "f1.csv"), str(tmp_path / "f2.csv")]
    )
    assert (again.labels_unchanged, again.labels_corrected, again.quarantine_rows) == (2, 0, 0)


def test_under_the_quarantine_policy_the_exports_zero_stays(spark, fed, tmp_path):
    table = _copy(fed, tmp_path)
    rebuilt = run_etl(spark, _config(tmp_path, label_corrections="quarantine"))
    assert (rebuilt.corrections_reapplied, rebuilt.ledger_quarantined) == (
        0, {"conflicting_label": 2})  # fmt: skip
    assert _labels(spark, table) == {"x1": (0, "2024-01-06 00:30:00"), "x2": (0, None)}
