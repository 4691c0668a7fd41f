"""A spec entry's key that the kind ignores under another of its settings is refused, naming
the key, the feature, the setting and the kind's keys (probe55g): it built the same
feature as without it, without a word."""

from __future__ import annotations

import pytest

from fraud_app.errors import FeatureSpecError
from fraud_app.features.spec import parse_spec


def _spec(entry: str) -> str:
    return f"version: 1\nfeatures:\n  - {entry}\n"


@pytest.mark.parametrize(
    "entry, message",
    [
        # before: card_count_7d, the same count as without the column
        ("{kind: window_agg, entity: card, aggregation: count, column: amount_eur, window: 7d}",
         r"features\[0\]\.column does nothing for kind 'window_agg': aggregation 'count' counts "
         r"the rows"),
        ("{kind: window_agg, entity: card, aggregation: count, columns: [mcc, channel], window: 7d}",
         r"features\[0\]\.columns does nothing for kind 'window_agg'"),
        # before: card_count_velocity_1h_30d whatever the column
        ("{kind: velocity_ratio, entity: card, column: merchant_id, window: 1h, baseline: 30d}",
         r"features\[0\]\.column does nothing for kind 'velocity_ratio': aggregation is 'count'"),
        # before: the unsmoothed rate, prior unused
        ("{kind: fraud_rate, entity: card, window: 30d, prior: 0.01}",
         r"features\[0\]\.prior does nothing for kind 'fraud_rate': smoothing is 0"),
        ("{kind: novelty, entity: card, column: merchant_id, frame: sliding}",
         r"features\[0\]\.frame does nothing for kind 'novelty': no window is set"),
    ],
)  # fmt: skip
def test_a_key_the_kind_ignores_is_refused_with_its_keys(entry, message):
    with pytest.raises(FeatureSpecError, match=message) as info:
        parse_spec(_spec(entry), source="x.yaml")
    assert "x.yaml: features[0]" in str(info.value) and "Keys of kind" in str(info.value)


@pytest.mark.parametrize(
    "entry, names",
    [
        # the sums read the column: it is used by the entry
        ("{kind: window_agg, entity: card, aggregations: [count, sum], column: amount_eur, window: 7d}",
         ["card_count_7d", "card_amount_eur_sum_7d"]),
        ("{kind: fraud_rate, entity: card, window: 30d, prior: 0.01, smoothing: 5}",
         ["card_fraud_rate_30d"]),
        ("{kind: velocity_ratio, entity: card, aggregation: sum, column: amount, window: 1h, baseline: 30d}",
         ["card_amount_velocity_1h_30d"]),
        ("{kind: novelty, entity: card, column: merchant_id, windows: [1h], frame: sliding}",
         ["card_new_merchant_30d_count_1h"]),
    ],
)  # fmt: skip
def test_a_key_in_use_is_accepted(entry, names):
    assert [s.feature.name for s in parse_spec(_spec(entry), source="x.yaml")] == names
