"""bench/ulb.py's selection protocol: time-ordered folds, the fold score, top-k means, and
the row alignment that lets models on different features columns be averaged."""

from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import _ulb_grid as grid  # noqa: E402
import _ulb_select as sel  # noqa: E402
import ulb  # noqa: E402


def test_fold_0_is_the_standard_split_and_folds_chain_forward():
    n = 284_807
    ranges = sel.time_folds(n, 0.2, 3)
    fit, val, _ = ulb.split(n, 0.2)
    assert ranges[0] == (fit, val)
    block = val.stop - val.start
    for i, (f, v) in enumerate(ranges):
        assert f.start == 0 and f.stop == v.start  # fits on every row before its block
        assert v.stop - v.start == block
        assert v.stop == int(0.8 * n) - i * block  # the i-th block back from the end
        assert v.stop <= fit.stop + block  # never beyond the training part


def test_too_many_folds_is_an_error_that_says_what_to_do():
    with pytest.raises(ValueError, match="--cv-folds 4 with --val-share 0.25.*use fewer folds"):
        sel.time_folds(1000, 0.25, 4)
    with pytest.raises(ValueError, match="--cv-folds 0"):
        sel.time_folds(1000, 0.2, 0)


def test_fold_score_and_top_k_means():
    rng = np.random.default_rng(0)
    y_vals = [rng.random(50) < 0.3, rng.random(40) < 0.3]
    cands = [sel.Scored([rng.random(50), rng.random(40)], rng.random(30)) for _ in range(3)]
    score, per_fold = sel.fold_score(y_vals, cands[0].val)
    expected = [average_precision_score(y, p) for y, p in zip(y_vals, cands[0].val, strict=True)]
    assert per_fold == pytest.approx(expected) and score == pytest.approx(np.mean(expected))
    mixes = sel.top_k_mixes(cands, 5)
    assert [k for k, _ in mixes] == [2, 3]  # at most as many as there are candidates
    k3 = mixes[1][1]
    np.testing.assert_allclose(k3.val[1], (cands[0].val[1] + cands[1].val[1] + cands[2].val[1]) / 3)
    np.testing.assert_allclose(mixes[0][1].test, (cands[0].test + cands[1].test) / 2)
    assert sel.top_k_mixes(cands, 1) == []


def test_named_mixes_average_the_named_candidates_and_refuse_bad_indices():
    rng = np.random.default_rng(1)
    cands = [sel.Scored([rng.random(20), rng.random(10)], rng.random(15)) for _ in range(4)]
    (mix,) = sel.named_mixes(cands, [[0, 3]])
    np.testing.assert_allclose(mix.val[0], (cands[0].val[0] + cands[3].val[0]) / 2)
    np.testing.assert_allclose(mix.val[1], (cands[0].val[1] + cands[3].val[1]) / 2)
    np.testing.assert_allclose(mix.test, (cands[0].test + cands[3].test) / 2)
    with pytest.raises(ValueError, match=r"--mixes \[0, 4\].*index in --ours, 0..3"):
        sel.named_mixes(cands, [[0, 4]])
    with pytest.raises(ValueError, match="at least two"):
        sel.named_mixes(cands, [[2]])


def test_an_ours_configuration_names_its_estimator():
    from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier

    single = ulb.make_ours({"estimator": "single", "posWeight": 5.0})
    assert type(single) is DlcoreClassifier and single.getPosWeight() == 5.0
    bagging = ulb.make_ours({"numSubsets": 3})
    assert type(bagging) is BalancedBaggingClassifier and bagging.getNumSubsets() == 3
    assert bagging.getHiddenLayers() == ulb.NET["hiddenLayers"]
    with pytest.raises(ValueError, match="estimator must be 'bagging' or 'single', got 'xgb'"):
        ulb.make_ours({"estimator": "xgb"})


def test_hour_of_day_is_periodic_over_days():
    h = sel.hour_of_day(np.array([0.0, 6 * 3600.0, 30 * 3600.0, 12 * 3600.0]))
    np.testing.assert_allclose(h[0], [0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(h[1], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(h[2], h[1], atol=1e-6)  # 06:00 on day 2
    np.testing.assert_allclose(h[3], [0.0, -1.0], atol=1e-6)


@pytest.mark.spark
def test_scores_of_models_on_different_columns_line_up_row_by_row(spark):
    """A model on `features` and one on `features_tod` are scored through Spark; their
    validation scores must pair up row by row (what a top-k mean averages), as the same
    models scored on the driver in row order do."""
    from fraud_app.ml import DlcoreClassifier

    rng = np.random.default_rng(1)
    n = 600
    frame = {f"V{i}": rng.standard_normal(n) for i in range(1, 29)}
    frame.update(Amount=rng.exponential(50.0, n), Time=np.arange(n) * 300.0)
    frame["Class"] = (frame["V1"] - frame["V2"] + rng.standard_normal(n) > 2.0).astype(int)
    import pandas as pd

    frame = pd.DataFrame(frame)
    ranges = sel.time_folds(n, 0.25, 2)
    _, _, test = ulb.split(n, 0.25)
    args = Namespace(transform="log_amount", time_of_day=False)
    folds, arrays = ulb.spark_folds(spark, frame, ranges, test, args)
    fold = folds[1]
    fast = dict(hiddenLayers=[8], epochs=2.0, batchSize=32, learningRate=0.02, groupSize=8,
                validationIndicatorCol="is_val")  # fmt: skip

    def make(c):
        return DlcoreClassifier(**{**fast, **c})

    got = [grid.fit_fold(make, {"featuresCol": c}, [0], fold) for c in ("features", "features_tod")]
    val = ranges[1][1]
    np.testing.assert_array_equal(np.sort(fold.y_val), np.sort(frame["Class"][val]))
    spark_pairs = np.stack([got[0][1][:, -1], got[1][1][:, -1]], axis=1)
    X, X_hours = arrays[1]
    driver_pairs = np.stack(
        [got[0][0][0].predict_numpy(X[val]), got[1][0][0].predict_numpy(X_hours[val])], axis=1
    )
    assert driver_pairs.std(axis=0).min() > 1e-3  # scores that differ: a mix-up would show
    # every (std, tod) pair Spark returned is a row's pair on the driver, one row each
    dist = np.abs(spark_pairs[:, None, :] - driver_pairs[None, :, :]).max(axis=2)
    nearest = dist.argmin(axis=1)
    assert dist.min(axis=1).max() < 1e-5
    assert len(set(nearest.tolist())) == len(driver_pairs)


@pytest.mark.spark
def test_combine_logit_averages_the_same_networks_by_their_logits(spark):
    """A configuration that differs only in "combine": "logit" scores the networks fitted
    for its sibling (no second fit) and ranks rows by the mean of the members' logits, as
    the fitted ensemble's members score them on the driver; the mean probability ranks them
    otherwise."""
    import pandas as pd

    from fraud_app.ml import BalancedBaggingClassifier

    rng = np.random.default_rng(2)
    n = 800
    frame = {f"V{i}": rng.standard_normal(n) for i in range(1, 29)}
    frame.update(Amount=rng.exponential(50.0, n), Time=np.arange(n) * 300.0)
    frame["Class"] = (frame["V1"] - frame["V2"] + rng.standard_normal(n) > 2.0).astype(int)
    frame = pd.DataFrame(frame)
    ranges = sel.time_folds(n, 0.25, 1)
    _, _, test = ulb.split(n, 0.25)
    args = Namespace(transform="log_amount", time_of_day=False)
    folds, arrays = ulb.spark_folds(spark, frame, ranges, test, args)
    fast = dict(hiddenLayers=[8], epochs=2.0, batchSize=32, learningRate=0.02, groupSize=8,
                validationIndicatorCol="is_val", numSubsets=3)  # fmt: skip

    def make(c):
        return BalancedBaggingClassifier(**{**fast, **c})

    tried, cache = [], {}
    _, mean_p = grid.fit_config("t", make, {}, folds, tried, cache)
    (models,) = cache.values()
    _, mean_z = grid.fit_config("t", make, {"combine": "logit"}, folds, tried, cache)
    assert len(cache) == 1 and next(iter(cache.values())) is models  # not fitted again
    X = arrays[0][0][ranges[0][1]]
    z = models[0].ensemble.member_logits(X)
    want = np.sort(1.0 / (1.0 + np.exp(-z.mean(axis=1))))
    np.testing.assert_allclose(np.sort(mean_z.val[0]), want, rtol=1e-5, atol=1e-7)
    p = np.sort(models[0].predict_numpy(X))
    np.testing.assert_allclose(np.sort(mean_p.val[0]), p, rtol=1e-5, atol=1e-7)
    assert np.abs(want - p).max() > 1e-4  # the two means differ: the test can tell them apart
    with pytest.raises(ValueError, match='"combine" must be "probability" or "logit"'):
        grid.fit_config("t", make, {"combine": "rank"}, folds, tried, cache)
