"""Point-in-time correctness: no feature may use later rows or labels not yet known.

"The world as known at cut-off c" (fraud_app.features.labels.as_known_at) keeps the
rows with timestamp < c and hides every label not known at c (label_known_at > c).
For every row before c, features computed on that world must equal the features
computed on the full data. The data packs same-card bursts, exact timestamp ties and
labels confirmed before and after the label delay; the specs cover every feature kind.
A second check compares the compiler with a brute-force Python reference.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app.features.compile import compute_features
from fraud_app.features.labels import as_known_at
from fraud_app.features.spec import FeatureSet, load_feature_set, parse_spec, spec_paths
from tests.fraud_app.features.canonical_data import SCHEMA, frame, tricky_rows
from tests.fraud_app.features.reference import reference_features

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[3]
DELAY_DAYS = 7
EXTRA_SPEC = """
version: 1
features:
  - {kind: window_agg, entity: device, aggregations: [count, std], windows: [1d]}
  - {kind: window_agg, entity: card, aggregations: [mean, max, min, std, count], window: 1h, include_current: true}
  - {kind: window_agg, entity: merchant, aggregations: [max, min], windows: [1d]}
  - {kind: window_agg, entity: merchant, aggregations: [mean, std], window: 1d, frame: sliding}
  - {kind: window_agg, entity: card, aggregations: [sum, std], window: 2d, frame: running}
  - {kind: amount_ratio, entity: card, window: 7d, frame: running}
  - {kind: fraud_rate, entity: card, window: 30d, smoothing: 5, prior: 0.1}
  - {kind: fraud_rate, entity: card, window: 10d, mature_only: false}
  - {kind: time_since_previous, entity: merchant, cap: 1d}
  - {kind: target_encoding, column: channel, mature_only: false, smoothing: 0, refresh: 1h}
  - {kind: frequency_encoding, column: mcc, refresh: 6h}
  - {kind: window_agg, entity: card, aggregations: [count, sum, max], windows: [1d, 7d], lags: [label_delay, 2d]}
  - {kind: window_agg, entity: merchant, aggregations: [count, mean], window: 7d, lag: label_delay}
  - {kind: amount_ratio, entity: card, window: 7d, lag: 1d}
  - {kind: fraud_rate, entity: card, windows: [1d, 7d], lags: [label_delay, 3d]}
  - {kind: fraud_rate, entity: card, window: 30d, lag: 3d}
  - {kind: fraud_rate, entity: merchant, window: 1d, lag: 10d, smoothing: 2, prior: 0.05}
  - {kind: amount_zscore, entity: card, windows: [1d, 7d]}
  - {kind: amount_zscore, entity: merchant, window: 7d, lag: label_delay, frame: running}
  - {kind: velocity_ratio, entity: card, window: 1h, baseline: 7d}
  - {kind: velocity_ratio, entity: merchant, aggregation: sum, window: 1d, baseline: 30d}
  - {kind: window_agg, entity: card, same: merchant_id, aggregations: [count, sum], windows: [1d, 30d]}
  - {kind: window_agg, entity: card, same: device_id, aggregations: [count], window: 7d, fill_value: -1}
  - {kind: time_since_previous, entity: card, same: device_id, cap: 7d}
  - {kind: time_since_previous, entity: merchant, same: mcc, cap: 2d}
  - {kind: amount_ratio, entity: card, same: mcc, window: 7d}
  - {kind: fraud_rate, entity: card, same: merchant_id, window: 30d, lag: label_delay}
  - {kind: fraud_rate, entity: card, same: country, window: 10d, mature_only: false}
  - {kind: one_hot, column: device_id, values: [d0, d2]}
  - {kind: one_hot, column: card_country, values: [FR, "US"]}
  - {kind: window_agg, entity: card, aggregations: [min, max, std], windows: [10m, 1d], relative_to: 7d}
  - {kind: window_agg, entity: card, aggregation: mean, window: 1h, include_current: true, relative_to: 1d}
  - {kind: window_agg, entity: merchant, aggregations: [sum, min], window: 1d, lag: label_delay, relative_to: 30d}
  - {kind: window_agg, entity: card, same: merchant_id, aggregation: min, window: 1h, relative_to: 30d, fill_value: -1}
  - {kind: window_agg, entity: card, aggregation: count_distinct, columns: [merchant_id, device_id, mcc], windows: [1h, 2d]}
  - {kind: window_agg, entity: card, aggregation: count_distinct, column: country, window: 1d, include_current: true}
  - {kind: window_agg, entity: merchant, aggregation: count_distinct, column: card_id, window: 7d, lag: label_delay}
  - {kind: window_agg, entity: device, aggregation: count_distinct, column: card_id, window: 30d}
  - {kind: novelty, entity: card, column: merchant_id, lookback: 2d}
  - {kind: novelty, entity: card, column: merchant_id, lookback: 2d, windows: [1h, 7d]}
  - {kind: novelty, entity: card, column: device_id, lookback: 7d, window: 1d, lag: 1d, fill_value: -1}
  - {kind: novelty, entity: merchant, column: card_id, lookback: 30d, windows: [1d], frame: sliding}
  - {kind: novelty, entity: merchant, column: card_id, lookback: 10d, window: 3d}
  - {kind: novelty, entity: device, column: merchant_id, lookback: 1d}
  - {kind: window_agg, entity: card, same: merchant_id, aggregation: count_distinct, column: device_id, window: 30d}
  - {kind: calendar, parts: [hour_of_day, day_of_week, is_weekend], time_zone: Asia/Kolkata}
"""


def _feature_set() -> FeatureSet:
    repo = load_feature_set(spec_paths(REPO / "feature_specs"), label_delay_days=DELAY_DAYS)
    extra = [s.feature for s in parse_spec(EXTRA_SPEC, source="extra")]
    names = {f.name for f in repo.features}
    extra = [f for f in extra if f.name not in names]
    return FeatureSet(features=(*repo.features, *extra), label_delay_s=repo.label_delay_s)


FEATURES = _feature_set()


def _collect(df, fs: FeatureSet) -> dict[str, dict[str, float]]:
    # every feature, also those the feature step skips as constant (without label_time a
    # fraud rate whose window ends within the delay): their values must be point-in-time too
    result = compute_features(df, fs, skip_all_null=False)
    rows = result.df.select("transaction_id", *result.feature_names, "features").collect()
    return {r["transaction_id"]: r.asDict() for r in rows}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _mismatches(full: dict, part: dict, names) -> list[tuple]:
    return [
        (tid, name, full[tid][name], row[name])
        for tid, row in part.items()
        for name in names
        if not _close(full[tid][name], row[name])
    ]


@pytest.fixture(scope="module")
def rows():
    return tricky_rows(n=260, seed=11, days=45)


# Without label_time only the label-using features take a different path (known at
# timestamp + delay); checking just those keeps the Spark jobs of this test down.
WORLDS = {
    "with_label_time": ((), FEATURES, 2),
    "without_label_time": (
        ("label_time",),
        FEATURES.subset(f.name for f in FEATURES.features if f.uses_labels),
        1,
    ),
}


@pytest.fixture(scope="module", params=list(WORLDS))
def world(request, spark, rows):
    drop, fs, n_cutoffs = WORLDS[request.param]
    df = frame(spark, rows, drop=drop).cache()
    return request.param, df, fs, n_cutoffs, _collect(df, fs)


def _cutoffs(rows, n: int, seed: int) -> list[dt.datetime]:
    rng = random.Random(seed)
    stamps = sorted({r[3] for r in rows})
    lo, hi = stamps[len(stamps) // 4], stamps[-1]
    exact = rng.choice(stamps[len(stamps) // 2 :])  # exactly on a transaction's timestamp
    return [exact, *(lo + (hi - lo) * rng.random() for _ in range(n - 1))]


def test_features_equal_on_the_world_as_known_at_each_cutoff(spark, rows, world):
    name, df, fs, n_cutoffs, full = world
    assert len(full) == len(rows)
    for cutoff in _cutoffs(rows, n=n_cutoffs, seed=3 if name == "with_label_time" else 4):
        known = as_known_at(df, cutoff, fs.label_delay_s)
        part = _collect(known, fs)
        expected_ids = {r[0] for r in rows if r[3] < cutoff}
        assert set(part) == expected_ids
        bad = _mismatches(full, part, fs.names)
        assert not bad, f"{name}, cut-off {cutoff}: {len(bad)} mismatches, e.g. {bad[:5]}"


def test_compiler_matches_brute_force_reference(rows, world):
    name, _, fs, _, full = world
    drop = WORLDS[name][0]
    dicts = [{k: v for k, v in zip(SCHEMA.names, r, strict=True) if k not in drop} for r in rows]
    ref = reference_features(dicts, fs)
    bad = _mismatches(ref, full, fs.names)
    assert not bad, f"{name}: {len(bad)} differences from the reference, e.g. {bad[:5]}"
    for row in full.values():
        assert row["features"] == pytest.approx([row[n] for n in fs.names], rel=1e-6)


def test_truncation_check_catches_a_label_leak(spark, rows):
    """Harness self-test: a fraud count that ignores label_time must fail the check."""
    df = frame(spark, rows)
    from pyspark.sql import Window

    w = Window.partitionBy("card_id").orderBy(F.unix_micros("timestamp"))
    frame_ = w.rangeBetween(-30 * 86_400 * 10**6, -1)
    leaky = F.coalesce(F.sum(F.coalesce(F.col("label"), F.lit(0))).over(frame_), F.lit(0))
    cutoff = sorted(r[3] for r in rows)[len(rows) * 3 // 4]

    def run(d):
        return {r[0]: {"leak": float(r[1])} for r in d.select("transaction_id", leaky).collect()}

    full = run(df)
    part = run(as_known_at(df, cutoff, FEATURES.label_delay_s))
    assert _mismatches(full, part, ["leak"])


def test_unlabelled_rows_are_never_known_frauds_and_change_no_earlier_feature(spark, rows, world):
    # a delivery from `cut` on arrives without labels (etl.allow_unlabelled: label null)
    name, df, fs, _, full = world
    fs = fs.subset(f.name for f in fs.features if f.uses_labels)
    cut = sorted(r[3] for r in rows)[len(rows) * 2 // 3]
    later = F.col("timestamp") >= F.lit(cut)
    hidden = {c: F.when(~later, F.col(c)) for c in ("label", "label_time") if c in df.columns}
    part = _collect(df.withColumns(hidden), fs)
    # every row is there; a row's features are those of the full data until a label of a
    # row from `cut` on would have been known as a fraud (label_time, or timestamp + delay)
    delay = dt.timedelta(days=DELAY_DAYS)
    known = [r[6] if name == "with_label_time" and r[6] else r[3] + delay
             for r in rows if r[3] >= cut and r[5] == 1]  # fmt: skip
    first_known = min(known)
    same = {r[0] for r in rows if r[3] < first_known}
    assert set(part) == set(full) and len(same) > len(rows) * 2 // 3
    bad = _mismatches(full, {t: part[t] for t in same}, fs.names)
    assert not bad, f"{name}: {len(bad)} mismatches, e.g. {bad[:5]}"
    # ... and after it an unlabelled row counts as no fraud and as a row (rates' denominators
    # never depend on labels): as if it were a known normal, whatever its label will be
    normals = _collect(
        df.withColumn("label", F.when(later, F.lit(0)).otherwise(F.col("label"))), fs
    )
    bad = _mismatches(normals, part, fs.names)
    assert not bad, f"{name}: {len(bad)} mismatches, e.g. {bad[:5]}"
    assert _mismatches(full, part, fs.names)  # the check sees labels that became known
