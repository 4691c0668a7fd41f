"""A balanced subset (a future ensemble member's training data) must hold both classes.

Session 46 (probe46a): UnionPay's hash shares left a subset without a normal when the
window held few normals (3 normals, 5 subsets: 2+ members trained on frauds only, every
one of their scores ~1), and undersampling at a tiny normal_ratio kept no normal; both
trained on, with only the fraud-majority WARNING (or nothing) to say so.
"""

from __future__ import annotations

import pytest

from fraud_app.balancing.undersample import Undersample
from fraud_app.balancing.unionpay import UnionPaySubsets
from fraud_app.errors import EmptyInputError

pytestmark = pytest.mark.spark


def _df(spark, frauds: int, normals: int):
    rows = [(f"f{i}", 1) for i in range(frauds)] + [(f"n{i}", 0) for i in range(normals)]
    return spark.createDataFrame(rows, "transaction_id string, label int")


def test_a_unionpay_subset_without_normals_is_an_error(spark):
    df = _df(spark, 20, 3)
    with pytest.raises(EmptyInputError) as info:
        UnionPaySubsets(n_subsets=5, seed=42).balance(df)
    message = str(info.value)
    assert "balancing strategy 'unionpay_subsets'" in message
    assert "of the 5 subsets hold no normal" in message
    assert "3 normals" in message
    assert "balancing.unionpay_subsets.n_subsets" in message


def test_every_unionpay_subset_with_normals_trains_as_before(spark):
    df = _df(spark, 20, 60)
    result = UnionPaySubsets(n_subsets=3, seed=42).balance(df)
    assert all(s["normals"] > 0 for s in result.summary["subsets"])


def test_undersampling_that_keeps_no_normal_is_an_error(spark):
    df = _df(spark, 5, 400)
    with pytest.raises(EmptyInputError) as info:
        Undersample(normal_ratio=1e-6, seed=42).balance(df)
    message = str(info.value)
    assert "balancing strategy 'undersample'" in message
    assert "kept none of the 400 normals" in message
    assert "balancing.undersample.normal_ratio" in message
