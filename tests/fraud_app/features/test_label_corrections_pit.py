"""A label correction (`fraud-app labels`: a published 0 -> 1, fraud_app.etl.labels_classify)
is point-in-time: the fraud counts in the merchant / card rates after its label_time and
not before. `build_feature_table` before and after the correction: the rows before its
label_time keep their features (the denominators never depend on labels), the rows after
it count one more known fraud, and both tables equal the brute-force reference
(tests/fraud_app/features/reference.py) of the canonical rows they were built from.
Before corrections the feed row was quarantined and the fraud never reached a feature."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table, check_feature_specs
from tests.fraud_app.features.reference import reference_features

pytestmark = pytest.mark.spark

RAW = (
    "transaction_id,card_id,merchant_id,timestamp,amount,label,label_time\n"
    "v1,c1,m1,2024-01-02 10:00:00,10,0,2024-01-03 00:30:00\n"  # corrected to 1 at 01-10 12:00
    "v2,c1,m1,2024-01-03 10:00:00,20,1,2024-01-04 00:30:00\n"  # a known fraud
    "v3,c2,m1,2024-01-05 10:00:00,30,0,\n"
    "v4,c1,m1,2024-01-08 10:00:00,40,0,\n"  # before the correction's label_time
    "v5,c2,m1,2024-01-10 12:00:00,50,0,\n"  # exactly at it: not known before t
    "v6,c1,m1,2024-01-12 10:00:00,60,0,\n"
    "v7,c2,m1,2024-01-20 10:00:00,70,0,\n"
    "v8,c1,m2,2024-02-15 10:00:00,80,0,\n"  # v1 has left every window
)
CORRECTED_AT = dt.datetime(2024, 1, 10, 12)
SPEC = """version: 1
features:
  - {kind: fraud_rate, entity: merchant, window: 30d, mature_only: false}
  - {kind: fraud_rate, entity: card, windows: [7d, 30d], mature_only: false, smoothing: 0}
  - {kind: fraud_rate, entity: card, window: 30d, lag: 1d, smoothing: 1, prior: 0.1}
"""


def _config(base: Path):
    return load_config(None, {
        "paths.root": str(base / "work"), "etl": {"input": str(base / "raw")},
        "features": {"spec_dir": str(base / "specs"), "label_delay_days": 7},
    })  # fmt: skip


def _features(spark, config, names) -> dict[str, dict[str, float]]:
    rows = spark.read.parquet(config.feature_table()).collect()
    return {r["transaction_id"]: {n: r[n] for n in names} for r in rows}


def _reference(spark, config, feature_set) -> dict[str, dict[str, float]]:
    columns = ("transaction_id", "card_id", "merchant_id", "timestamp", "amount", "label",
               "label_time")  # fmt: skip
    rows = [{c: r[c] for c in columns}
            for r in spark.read.parquet(config.canonical_table()).collect()]  # fmt: skip
    for r in rows:  # naive UTC (the session's zone) -> aware, as the reference reads them
        for c in ("timestamp", "label_time"):
            r[c] = r[c] and r[c].replace(tzinfo=dt.UTC)
    return reference_features(rows, feature_set)


def _same(a: dict, b: dict) -> bool:
    return all(math.isclose(a[n], b[n], rel_tol=1e-9, abs_tol=1e-12) for n in a)


def _equal(table: dict, reference: dict) -> bool:
    return table.keys() == reference.keys() and all(_same(table[t], reference[t]) for t in table)


def test_a_correction_counts_from_its_label_time_on_and_matches_the_reference(spark, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.csv").write_text(RAW)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "r.yaml").write_text(SPEC)
    config = _config(tmp_path)
    feature_set = check_feature_specs(config.features)
    run_etl(spark, config)
    names = build_feature_table(spark, config, feature_set).feature_names
    assert len(names) == 4
    before = _features(spark, config, names)
    assert _equal(before, _reference(spark, config, feature_set))

    feed = tmp_path / "cb.csv"
    feed.write_text("transaction_id,label,label_time\nv1,1,2024-01-10 12:00:00\n")
    fixed = run_labels(spark, config, [str(feed)])
    assert (fixed.labels_corrected, fixed.quarantine_rows) == (1, 0)
    after = _features(spark, config, build_feature_table(spark, config, feature_set).feature_names)
    assert _equal(after, _reference(spark, config, feature_set))

    stamps = {r.transaction_id: r.timestamp for r in
              spark.read.parquet(config.canonical_table()).collect()}  # fmt: skip
    changed = {t for t in before if not _same(before[t], after[t])}
    # every row before the correction's label_time keeps its features (and a row at it);
    # after it, those whose windows hold v1 (merchant m1 up to 30 days after v1, card c1
    # within 7 / 30 days)
    assert all(stamps[t] >= CORRECTED_AT for t in changed)
    assert changed == {"v6", "v7"}
    merchant = next(n for n in names if n.startswith("merchant"))
    # v5 at the label_time itself: the correction is not known strictly before it (one
    # rule with the encodings, review53b: it counted, 2 / 4); v6 counts v1 and v2
    assert (before["v5"][merchant], after["v5"][merchant]) == pytest.approx((1 / 4, 1 / 4))
