"""A spec column spelled unlike the data's but for case (`column: Amount` on a table of
`amount`) is skipped as absent, and the warning names the data's spelling: it said only
"absent: Amount" (review47a's note), though the table has the column."""

from __future__ import annotations

import logging

import pytest

from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet, parse_spec
from tests.fraud_app.features.canonical_data import frame, tricky_rows

pytestmark = pytest.mark.spark

SPEC = """
version: 1
features:
  - {kind: window_agg, entity: card, column: Amount, aggregation: sum, window: 1d}
  - {kind: window_agg, entity: card, column: no_such_column, aggregation: sum, window: 1d}
  - {kind: window_agg, entity: card, aggregations: [count], windows: [1d]}
"""


def test_a_column_spelled_in_another_case_is_named_in_the_skip(spark, caplog):
    features = tuple(s.feature for s in parse_spec(SPEC, source="test"))
    fs = FeatureSet(features=features, label_delay_s=86_400)
    with caplog.at_level(logging.WARNING, logger="fraud_app.features.compile"):
        result = compute_features(frame(spark, tricky_rows(n=10, seed=1, days=3)), fs,
                                  skip_all_null=False)  # fmt: skip
    by_name = {s.name: s for s in result.skipped}
    assert len(by_name) == 2, by_name
    amount = next(s for s in result.skipped if s.missing == ("Amount",))
    assert amount.near == ("amount",)
    assert "absent: Amount (the data has 'amount': a spec names a column exactly" in amount.reason
    other = next(s for s in result.skipped if s.missing == ("no_such_column",))
    assert other.near == () and other.reason == "absent: no_such_column"
    assert "(the data has 'amount'" in caplog.text
