"""An untrained ensemble over a feature table's features, ready for `score` / `evaluate`:
members standardised with the table's statistics, scoring metadata from its own scores,
feature definitions from the config's specs (shared by the scoring tests that need a
model but not a trained one)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from dlcore.layers import Linear, ReLU, Sequential, Standardize
from dlcore.model import Model
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.reference import scoring_metadata


def table_model(config, path: Path, *, seeds=(0,), hidden: int = 4) -> tuple[str, list[str]]:
    """(the saved ensemble directory, the table's feature names)."""
    table = pq.read_table(str(config.feature_table())).to_pandas()
    meta = json.loads((Path(config.feature_table()) / "_features.json").read_text())
    names = meta["feature_names"]
    X = table[names].to_numpy(np.float64)
    members = []
    for seed in seeds:
        m = Model(Sequential([Standardize(name="standardize"), Linear(hidden), ReLU(), Linear(1)]),
                  in_features=len(names), seed=seed)  # fmt: skip
        m.layer.layers[0].set_statistics(X.mean(axis=0), X.std(axis=0) + 1e-6)
        members.append(m)
    ensemble = FraudEnsemble(members, names, {})
    scores = ensemble.predict_proba(X.astype(np.float32))
    ensemble.metadata["scoring"] = scoring_metadata(
        validation_scores=scores, budget=0.01, feature_means=X.mean(axis=0),
        sample_X=X, sample_scores=scores,
    )  # fmt: skip
    feature_set = feature_set_from_config(config.features)
    ensemble.metadata["features"] = {"definitions": definitions(feature_set, names)}
    return str(ensemble.save(path)), names
