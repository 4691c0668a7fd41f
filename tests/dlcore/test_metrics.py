import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from dlcore.errors import ConfigError, ShapeError
from dlcore.metrics import average_precision, roc_auc


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=60))
def test_metrics_match_scikit_learn_including_ties(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs], dtype=np.float64)  # few distinct values -> many ties
    if y.min() == y.max():
        assert math.isnan(roc_auc(y, s)) and math.isnan(average_precision(y, s))
        return
    assert roc_auc(y, s) == pytest_approx(roc_auc_score(y, s))
    assert average_precision(y, s) == pytest_approx(average_precision_score(y, s))


def pytest_approx(x):
    import pytest

    return pytest.approx(x, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("metric", [roc_auc, average_precision])
def test_a_nan_or_infinite_score_is_refused_not_ranked_last(metric):
    # before: NaN sorted after every score, so this ranking got AUC 1.0 and AP 0.98
    y = np.array([1, 1, 0, 0, 0, 1])
    for bad in (np.nan, np.inf):
        s = np.array([0.9, 0.8, 0.2, 0.1, 0.3, bad])
        with pytest.raises(ConfigError, match=r"scores must be finite: 1 of 6 are NaN or infinite"):
            metric(y, s)


@pytest.mark.parametrize("metric", [roc_auc, average_precision])
@pytest.mark.parametrize("label, shown", [(2.0, "[2.0]"), (np.nan, "[nan]"), (-1.0, "[-1.0]")])
def test_a_label_other_than_0_or_1_is_refused(metric, label, shown):
    # before: a 2 counted as fraud and a NaN as normal without a word
    y = np.array([1.0, 0.0, 0.0, label])
    with pytest.raises(ConfigError, match=rf"labels 0 and 1\. Received values such as \{shown}"):
        metric(y, np.array([0.9, 0.1, 0.2, 0.5]))


def test_boolean_labels_are_read_as_0_and_1():
    y = np.array([True, False, False, True])
    assert roc_auc(y, np.array([0.9, 0.1, 0.2, 0.8])) == 1.0


def test_population_stability_index_by_hand():
    from dlcore.metrics import population_stability_index as psi

    # shares 0.5 / 0.5 against counts 30 / 10: (0.75 - 0.5) ln 1.5 + (0.25 - 0.5) ln 0.5
    assert psi([0.5, 0.5], [30, 10]) == pytest.approx(0.25 * np.log(1.5) - 0.25 * np.log(0.5))
    assert psi([0.2, 0.8], [2, 8]) == pytest.approx(0.0)
    assert psi([], []) is None and psi([0.5, 0.5], [0, 0]) is None
    with pytest.raises(ShapeError, match="2 reference bins, received 3 counts"):
        psi([0.5, 0.5], [1, 2, 3])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(1, 4)), min_size=2, max_size=60
    )
)
def test_weighted_average_precision_counts_a_row_weight_times(triples):
    # a weight k is the row repeated k times (what a stratified sample's 1/rate stands for)
    y = np.array([t[0] for t in triples])
    s = np.array([t[1] for t in triples], dtype=np.float64)
    w = np.array([t[2] for t in triples], dtype=np.float64)
    weighted = average_precision(y, s, sample_weight=w)
    repeated = average_precision(np.repeat(y, w.astype(int)), np.repeat(s, w.astype(int)))
    if y.min() == y.max():
        assert math.isnan(weighted) and math.isnan(repeated)
        return
    assert weighted == pytest_approx(repeated)
    assert weighted == pytest_approx(average_precision_score(y, s, sample_weight=w))
    assert average_precision(y, s, sample_weight=np.ones(len(y))) == pytest_approx(
        average_precision(y, s)
    )


def test_bad_sample_weights_are_named():
    y, s = np.array([0, 1, 0]), np.array([0.1, 0.9, 0.3])
    with pytest.raises(ShapeError, match=r"one weight per row \(3\)"):
        average_precision(y, s, sample_weight=np.ones(2))
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ConfigError, match="finite weights > 0"):
            average_precision(y, s, sample_weight=np.array([1.0, bad, 1.0]))
