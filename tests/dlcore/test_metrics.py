import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

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
