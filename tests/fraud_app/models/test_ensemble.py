"""Ensemble: training on balanced subsets through Spark, save/load, batch scoring, evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fraud_app.errors import ModelLoadError, SchemaError
from fraud_app.models.config import (
    DistributedSection,
    ModelSection,
    OptimizerSection,
    TrainingSection,
)
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.models.train import (
    Checkpoints,
    EncodingRows,
    TrainingInputs,
    evaluate_scores,
    feature_sample,
    feature_statistics,
    train_ensemble,
)
from fraud_app.scoring.batch import score_dataframe

D = 5


def _rows(n, seed, fraud_rate=0.2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)) * [1, 10, 100, 1, 1] + [0, 5, 1000, 0, 0]
    y = (rng.random(n) < fraud_rate).astype(float)
    X[y == 1, 0] += 2.5  # the signal
    return [(X[i].astype(np.float32).tolist(), float(y[i]), f"t{seed}-{i}") for i in range(n)]


@pytest.fixture(scope="module")
def frames(spark):
    schema = "features array<float>, label double, transaction_id string"
    subsets = [spark.createDataFrame(_rows(160, s), schema) for s in (1, 2)]
    test = spark.createDataFrame(_rows(300, 9), schema)
    return subsets, test


def _cfg():
    return TrainingSection(
        model=ModelSection(hidden=(16,), dropout=0.0),
        optimizer=OptimizerSection(learning_rate=1e-2),
        distributed=DistributedSection(
            num_workers=2,
            global_batch_size=32,
            iterations=60,
            epochs=None,
            group_size=30,
            scale_lr=False,
        ),
    )


@pytest.mark.spark
def test_feature_statistics_match_numpy(spark, frames):
    subsets, _ = frames
    X = np.array([r[0] for r in _rows(160, 1)], dtype=np.float64)
    mean, std = feature_statistics(subsets[0])
    np.testing.assert_allclose(mean, X.astype(np.float32).mean(0), rtol=1e-5)
    np.testing.assert_allclose(std, X.astype(np.float32).std(0), rtol=1e-4)


@pytest.mark.spark
def test_trained_ensemble_scores_in_spark_and_round_trips(spark, frames, tmp_path):
    subsets, test = frames
    names = [f"f{i}" for i in range(D)]
    out = train_ensemble(
        subsets,
        _cfg(),
        TrainingInputs(names, feature_statistics(subsets[0])),
        checkpoints=Checkpoints(tmp_path / "ckpt"),
    )
    ens = out.ensemble
    assert len(ens.members) == 2 and len(out.results) == 2
    assert not np.array_equal(ens.members[0].params.data, ens.members[1].params.data)

    scored = score_dataframe(test, ens).select("transaction_id", "label", "fraud_score").toPandas()
    X = np.array([r[0] for r in _rows(300, 9)], dtype=np.float32)
    np.testing.assert_allclose(scored["fraud_score"].to_numpy(), ens.predict_proba(X), rtol=1e-6)
    metrics = evaluate_scores(scored["label"].to_numpy(), scored["fraud_score"].to_numpy())
    assert metrics["roc_auc"] > 0.8, metrics  # the signal is strong; an untrained model gives ~0.5

    ens.save(tmp_path / "model")
    again = FraudEnsemble.load(tmp_path / "model")
    np.testing.assert_array_equal(again.predict_proba(X), ens.predict_proba(X))
    assert again.feature_names == names


def test_load_rejects_bad_directories(tmp_path):
    with pytest.raises(ModelLoadError, match="ensemble.json is missing"):
        FraudEnsemble.load(tmp_path)
    (tmp_path / "ensemble.json").write_text(
        json.dumps({"format": "fraud_app.ensemble/1", "members": ["../x"], "feature_names": ["a"]})
    )
    with pytest.raises(ModelLoadError, match="not a plain directory name"):
        FraudEnsemble.load(tmp_path)
    (tmp_path / "ensemble.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        FraudEnsemble.load(tmp_path)


@pytest.mark.spark
def test_scoring_names_a_missing_feature_column(spark):
    df = spark.createDataFrame([(1.0,)], "label double")
    with pytest.raises(SchemaError, match="column 'features' is missing"):
        # an ensemble with nothing in it: the column is checked before the model is touched
        score_dataframe(df, FraudEnsemble.__new__(FraudEnsemble))


def test_evaluate_scores_alert_budget():
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0] * 100)
    scores = np.linspace(1, 0, 1000)
    m = evaluate_scores(labels, scores, alert_rates=(0.1,))
    # top 100 rows are the first 100: 20 frauds of 200
    assert m["recall_at_alert_0.1"] == pytest.approx(0.1) and m[
        "precision_at_alert_0.1"
    ] == pytest.approx(0.2)


@pytest.mark.spark
def test_input_encoding_is_fitted_on_the_window_and_scored_identically(spark, frames, tmp_path):
    """training.model.encoding: the bins come from the (standardised) rows of
    `encoding_rows`, every member gets the same ones, and Spark scoring, predict_proba and
    a saved-and-loaded ensemble apply exactly the encoding training used."""
    from dlcore.layers import PiecewiseLinear, quantile_edges

    subsets, test = frames
    window = subsets[0].unionByName(subsets[1])
    stats = feature_statistics(window)
    cfg = _cfg().model_copy(
        update={
            "model": ModelSection(
                hidden=(16,), dropout=0.0, encoding="piecewise_linear", encoding_bins=4
            )
        }
    )
    out = train_ensemble(subsets, cfg, TrainingInputs(None, stats, encoding=EncodingRows(window)))
    ens = out.ensemble
    window_X = np.array([r[0] for s in (1, 2) for r in _rows(160, s)], dtype=np.float32)
    std = ens.members[0].layer.layers[0]
    expected = quantile_edges(std.forward(window_X, False)[0], 4)  # 320 rows: no sampling
    for member in ens.members:
        layer = member.layer.layers[1]
        assert isinstance(layer, PiecewiseLinear) and layer.in_features == D
        np.testing.assert_allclose(layer.lower, expected[0], rtol=1e-6)
        np.testing.assert_allclose(layer.inv_width, expected[1], rtol=1e-5)
    X = np.array([r[0] for r in _rows(300, 9)], dtype=np.float32)
    scored = score_dataframe(test, ens).select("fraud_score").toPandas()["fraud_score"].to_numpy()
    np.testing.assert_allclose(scored, ens.predict_proba(X), rtol=1e-6)
    ens.save(tmp_path / "model")
    np.testing.assert_array_equal(
        FraudEnsemble.load(tmp_path / "model").predict_proba(X), ens.predict_proba(X)
    )
    labels = np.array([r[1] for r in _rows(300, 9)])
    assert evaluate_scores(labels, scored)["roc_auc"] > 0.8


@pytest.mark.spark
def test_feature_sample_with_a_known_row_count_is_the_counted_one(spark, frames):
    """`rows` spares the count (the time splits know every window's rows): the same
    seeded sample as with the count, and the count is what sets the fraction."""
    window = frames[0][0].unionByName(frames[0][1])  # 320 rows
    counted = feature_sample(window, "features", "label", max_rows=100, seed=3)
    known = feature_sample(window, "features", "label", max_rows=100, seed=3, rows=320)
    assert 40 < len(counted) < 200
    np.testing.assert_array_equal(known, counted)
    other = feature_sample(window, "features", "label", max_rows=100, seed=3, rows=3200)
    assert len(other) < len(counted)  # fraction 100 / 3200 instead of 100 / 320


@pytest.mark.spark
def test_later_members_plan_from_the_first_ones_timing_with_the_same_weights(spark, frames):
    """With auto group sizes only the first member measures (a stage of FIRST_AUTO_STAGE
    groups of FIRST_AUTO_GROUP iterations); the next one plans its first stage from that
    timing, and its weights are those of fixed groups of FIRST_AUTO_GROUP iterations."""
    from fraud_app.spark.planner import FIRST_AUTO_GROUP, FIRST_AUTO_STAGE

    subsets, _ = frames
    stats = feature_statistics(subsets[0])

    def fit(group_size):
        cfg = _cfg()
        dist = cfg.distributed.model_copy(update={"group_size": group_size})
        return train_ensemble(subsets, cfg.model_copy(update={"distributed": dist}),
                              TrainingInputs(None, stats))  # fmt: skip

    auto, fixed = fit("auto"), fit(FIRST_AUTO_GROUP)
    first, second = (r.history for r in auto.results)
    assert [h["iterations"] for h in first[:FIRST_AUTO_STAGE]] == [FIRST_AUTO_GROUP] * 4
    assert second[0]["iterations"] > FIRST_AUTO_GROUP and second[0]["stage_start"]
    assert auto.stage_timing is not None and auto.results[1].stage_timing is not None
    for ours, theirs in zip(auto.ensemble.members, fixed.ensemble.members, strict=True):
        np.testing.assert_array_equal(ours.params.data, theirs.params.data)
