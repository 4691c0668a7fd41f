"""bench/features.py's pandas peer against the brute-force reference of the feature tests.

`bench/features.py --check` compares Spark with this pandas peer, so the peer must compute
every shipped feature with the same point-in-time rules. Here it meets the pure-Python
reference (tests/fraud_app/features/reference.py) on the tricky hand-made rows: bursts,
exact timestamp ties, labels confirmed late, nulls. No Spark.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd

from fraud_app.features.spec import FeatureSet, load_feature_set, parse_spec, spec_paths
from fraud_app.features.window_kinds import AmountZScore, WindowAggregate
from tests.fraud_app.features.canonical_data import SCHEMA, tricky_rows
from tests.fraud_app.features.reference import reference_features

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_features", REPO / "bench" / "features.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _assert_matches(got: pd.DataFrame, ref: dict, names, *, tol: float) -> None:
    """The peer's table (indexed by transaction_id) equals the reference on every row and
    feature within `tol` (relative and absolute)."""
    bad = [
        (tid, name, ref[tid][name], got.at[tid, name])
        for tid in ref
        for name in names
        if not math.isclose(ref[tid][name], got.at[tid, name], rel_tol=tol, abs_tol=tol)
    ]
    assert not bad, f"{len(bad)} differences from the reference, e.g. {bad[:5]}"


def test_the_pandas_peer_computes_every_shipped_feature_like_the_reference(tmp_path):
    # + the opt-in examples (docs/examples/one_hot.yaml, bursts.yaml: relative_to,
    # new_merchants.yaml: count_distinct and novelty)
    examples = [
        REPO / "docs" / "examples" / n
        for n in ("one_hot.yaml", "bursts.yaml", "new_merchants.yaml")
    ]
    paths = [*spec_paths(REPO / "feature_specs"), *examples]
    fs = load_feature_set(paths, label_delay_days=7)
    assert bench.not_computed(fs) == {}
    dicts = [dict(zip(SCHEMA.names, r, strict=True)) for r in tricky_rows(n=260, seed=11)]
    pd.DataFrame(dicts).to_parquet(tmp_path / "canonical.parquet")
    got = bench.pandas_features(str(tmp_path / "canonical.parquet"), fs)
    assert list(got.columns) == ["transaction_id", *fs.names]
    got = got.set_index("transaction_id")
    ref = reference_features(dicts, fs)
    _assert_matches(got, ref, fs.names, tol=1e-6)


def test_a_feature_the_peer_cannot_compute_is_named_with_the_reason(tmp_path):
    lagged = WindowAggregate(entity="card", aggregation="sum", window="7d", lag="1d")
    plain = AmountZScore(entity="card", window="7d")
    fs = FeatureSet(features=(plain, lagged), label_delay_s=7 * 86_400)
    assert bench.not_computed(fs) == {
        "card_amount_sum_7d_lag1d": "lagged window_agg window [t - lag - W, t - lag): "
        "rolling(closed='left') only ends at t"
    }
    dicts = [dict(zip(SCHEMA.names, r, strict=True)) for r in tricky_rows(n=40, seed=3)]
    pd.DataFrame(dicts).to_parquet(tmp_path / "canonical.parquet")
    got = bench.pandas_features(str(tmp_path / "canonical.parquet"), fs)
    assert list(got.columns) == ["transaction_id", plain.name]


NEW_KINDS_SPEC = """
version: 1
features:
  - {kind: window_agg, entity: card, aggregation: count_distinct, columns: [merchant_id, device_id], windows: [1h, 2d]}
  - {kind: window_agg, entity: card, aggregation: count_distinct, column: country, window: 1d, include_current: true}
  - {kind: window_agg, entity: merchant, aggregation: count_distinct, column: card_id, window: 7d}
  - {kind: window_agg, entity: card, same: merchant_id, aggregation: count_distinct, column: device_id, window: 30d}
  - {kind: novelty, entity: card, column: merchant_id, lookback: 2d}
  - {kind: novelty, entity: card, column: merchant_id, lookback: 2d, windows: [1h, 7d]}
  - {kind: novelty, entity: card, column: device_id, lookback: 7d, window: 1d, fill_value: -1}
  - {kind: novelty, entity: merchant, column: card_id, lookback: 30d, windows: [1d, 3d]}
"""


def test_the_pandas_peer_computes_count_distinct_and_novelty_like_the_reference(tmp_path):
    fs = FeatureSet(
        features=tuple(s.feature for s in parse_spec(NEW_KINDS_SPEC, source="new")),
        label_delay_s=7 * 86_400,
    )
    assert bench.not_computed(fs) == {}
    dicts = [dict(zip(SCHEMA.names, r, strict=True)) for r in tricky_rows(n=260, seed=11)]
    pd.DataFrame(dicts).to_parquet(tmp_path / "canonical.parquet")
    got = bench.pandas_features(str(tmp_path / "canonical.parquet"), fs).set_index("transaction_id")
    ref = reference_features(dicts, fs)
    _assert_matches(got, ref, fs.names, tol=1e-9)
    assert len({tuple(got[n]) for n in fs.names}) == len(fs.names)  # no two columns alike
