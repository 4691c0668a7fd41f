"""A feature table built under the config's own label delay is not "built from other
definitions" (review51d, session 51).

`_features.json` records label_delay_days as seconds / 86_400; read back, 0.7 days was
60479.99999999999 s against the specs' 60480 (FeatureSet holds whole seconds), so `train`,
`tune` and `backtest` (probe51d's check) refused the table `features` had just built under
the same config, for 0.7, 1.1, 2.3 ... (399 of the delays 0.01 .. 30.00 in steps of 0.01),
and `score` did not reuse it. No Spark: the metadata as `features` writes it, read back.
"""

from __future__ import annotations

import json
import types

import pytest

from fraud_app import jsonout
from fraud_app.config import load_config
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import table_differences
from fraud_app.features.table import feature_metadata


@pytest.mark.parametrize("days", [0.7, 1.1, 2.3, 7.0])
def test_a_table_built_under_the_configs_label_delay_matches_it(days):
    config = load_config(None, {"features.label_delay_days": days})
    feature_set = feature_set_from_config(config.features)
    names = list(feature_set.names)
    result = types.SimpleNamespace(feature_names=names, vector_column=None, skipped=[],
                                   label_delay_s=feature_set.label_delay_s)  # fmt: skip
    # `_features.json` as `features` writes it, read back
    meta = json.loads(jsonout.dumps(feature_metadata(result, feature_set)))
    assert table_differences(meta, feature_set, names) is None
    meta["label_delay_days"] = days + 1
    assert "the table was built with label_delay_days" in table_differences(
        meta, feature_set, names
    )
