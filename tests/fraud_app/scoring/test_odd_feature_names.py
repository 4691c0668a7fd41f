"""Feature names with unusual characters (`channel_is_a.b`, `channel_is_é`, `channel_is_1st`,
`channel_is_-`) through batch scoring: a dot in a column name is struct access to Spark
unless quoted (docs/PROBES.md, session 47, probe47d). The specs refuse a `.` in a one_hot
value since then; a DataFrame of the caller's own (score_dataframe in a notebook) may still
hold such columns beside the vector."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.layers import Linear, ReLU, Sequential, Standardize
from dlcore.model import Model
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import ScoringOptions, score_dataframe

pytestmark = pytest.mark.spark
NAMES = ["amount_log1p", "channel_is_a.b", "channel_is_é", "channel_is_1st", "channel_is_-"]
D = len(NAMES)


def _ensemble() -> FraudEnsemble:
    m = Model(Sequential([Standardize(name="standardize"), Linear(4), ReLU(), Linear(1)]),
              in_features=D, seed=3)  # fmt: skip
    m.layer.layers[0].set_statistics(np.zeros(D), np.ones(D))
    return FraudEnsemble([m], NAMES, {"scoring": {"feature_means": [0.0] * D}})


def test_a_feature_table_with_odd_feature_names_is_scored_with_its_columns_kept(spark):
    """A feature table holds one column per feature beside the vector: score_dataframe
    stopped with UNRESOLVED_COLUMN `channel_is_a`.`b` (`fraud-app train` scores its test
    window with it), so a spec with `one_hot` value `a.b` built a table nothing could train
    on."""
    X = np.random.default_rng(0).normal(size=(20, D)).astype(np.float32)
    rows = [(i, *map(float, x), x.tolist()) for i, x in enumerate(X)]
    ddl = ", ".join(["id int", *(f"`{n}` double" for n in NAMES), "features array<float>"])
    df = spark.createDataFrame(rows, ddl).coalesce(1)
    ensemble = _ensemble()
    out = score_dataframe(df, ensemble, options=ScoringOptions(reasons=3)).orderBy("id")
    assert out.columns[: D + 2] == df.columns  # every column kept, as named
    got = out.collect()
    np.testing.assert_allclose([r["fraud_score"] for r in got], ensemble.predict_proba(X),
                               rtol=1e-6, atol=1e-7)  # fmt: skip
    assert [r["channel_is_a.b"] for r in got] == [float(x) for x in X[:, 1]]
    named = {r[f"reason_{k}"] for r in got for k in (1, 2, 3)} - {None}
    assert named and named <= set(NAMES) and named & set(NAMES[1:])
