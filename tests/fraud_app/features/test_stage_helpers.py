"""A window stage builds each window function once, as a helper column its features name
(fraud_app.features.frames): the select the analyzer reads holds every window function
once, not once per use (a running std repeated its first-value window 16 times). The
values are test_point_in_time's to check (every kind against the brute-force reference):
this test builds the plan and runs no Spark job."""

from __future__ import annotations

import pytest
from pyspark.sql.classic.dataframe import DataFrame

from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet, parse_spec
from tests.fraud_app.features.canonical_data import frame, tricky_rows

pytestmark = pytest.mark.spark

SPEC = """
version: 1
features:
  - {kind: window_agg, entity: merchant, aggregations: [std, mean], windows: [1d, 7d], frame: running}
  - {kind: amount_zscore, entity: merchant, window: 7d, lag: label_delay, frame: running}
  - {kind: window_agg, entity: card, aggregations: [count, max], windows: [1h, 1d]}
  - {kind: time_since_previous, entity: card}
  - {kind: fraud_rate, entity: merchant, window: 30d, mature_only: false}
"""


def test_each_window_function_is_in_the_plan_once(spark, monkeypatch):
    features = tuple(s.feature for s in parse_spec(SPEC, source="test"))
    fs = FeatureSet(features=features, label_delay_s=7 * 86_400)
    rows = tricky_rows(n=40, seed=5, days=20)
    written: list[str] = []  # every select's expressions as the compiler wrote them
    select = DataFrame.select

    def spy(self, *cols):
        written.extend(c._jc.toString() for c in cols if not isinstance(c, str))
        return select(self, *cols)

    monkeypatch.setattr(DataFrame, "select", spy)
    result = compute_features(frame(spark, rows), fs, skip_all_null=False)
    monkeypatch.undo()
    text = "\n".join(written)
    # the merchant's first amount (the running std's reference: a window over the whole
    # partition) once, not once per use
    assert text.count("UNBOUNDED FOLLOWING") == 1, text[:3000]
    assert not [c for c in result.df.columns if c.startswith("_w_")]
