"""Embedding and FeatureEmbedding: lookup, scatter-add backward, id validation."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.backends import make_ops
from dlcore.errors import ConfigError, ShapeError
from dlcore.layers import Embedding, FeatureEmbedding, Linear, Sequential
from dlcore.model import Model
from tests.dlcore.harness import build


def embedding(num: int = 5, dim: int = 2, k: int = 2) -> Embedding:
    layer = Embedding(num, dim, name="emb")
    build(layer, k, needs_input_grad=False)
    return layer


def test_lookup_places_each_columns_vector_side_by_side() -> None:
    layer = embedding()
    layer.table[...] = np.arange(10.0).reshape(5, 2)
    Y, _ = layer.forward(np.array([[0.0, 4.0], [2.0, 2.0]]), True)
    np.testing.assert_array_equal(Y, [[0, 1, 8, 9], [4, 5, 4, 5]])


def test_backward_scatter_adds_repeated_ids_and_overwrites_old_gradients() -> None:
    layer = embedding()
    ids = np.array([[1, 1], [3, 1]])  # id 1 three times, id 3 once, others never
    _, backprop = layer.forward(ids, True)
    layer.dtable.fill(7.0)  # stale gradient: backprop must write, not accumulate
    dY = np.array([[1.0, 2.0, 10.0, 20.0], [100.0, 200.0, 1000.0, 2000.0]])
    assert backprop(dY) is None
    expected = np.zeros((5, 2))
    expected[1] = [1 + 10 + 1000, 2 + 20 + 2000]
    expected[3] = [100, 200]
    np.testing.assert_array_equal(layer.dtable, expected)


def test_integer_and_float_ids_give_the_same_output() -> None:
    layer = embedding()
    ids = np.array([[0, 4], [3, 2]])
    np.testing.assert_array_equal(
        layer.forward(ids, False)[0], layer.forward(ids.astype(np.float32), False)[0]
    )


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ([[0, 5]], r"ids must be integers in \[0, 5\). Received ids in \[0\.0, 5\.0\]"),
        ([[-1, 2]], r"ids must be integers in \[0, 5\). Received ids in \[-1\.0, 2\.0\]"),
        ([[np.nan, 2]], r"ids must be integers in \[0, 5\)"),
        ([[1.5, 2]], r"ids must be integer-valued. Received \[1\.5\]"),
    ],
)
def test_bad_ids_raise_naming_the_range(ids, match: str) -> None:
    with pytest.raises(ShapeError, match=f"Embedding 'emb': {match}"):
        embedding().forward(np.array(ids, dtype=np.float64), True)


def test_embedding_must_come_first() -> None:
    with pytest.raises(ConfigError, match="ids have none: put it first in the model"):
        Model(Sequential([Linear(2), Embedding(4, 2)]), in_features=2, ops=make_ops("numpy"))


def test_vocabulary_beyond_float32_integers_is_refused_at_build() -> None:
    with pytest.raises(ConfigError, match=r"a vocabulary of 16777217 ids cannot be passed exactly"):
        Model(Embedding(2**24 + 1, 1), in_features=1, ops=make_ops("numpy"))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 2), r"Embedding: num_embeddings must be a positive integer. Received: 0"),
        ((5, 2.0), r"Embedding: dim must be a positive integer. Received: 2.0"),
        ((True, 2), r"Embedding: num_embeddings must be a positive integer. Received: True"),
    ],
)
def test_embedding_bad_arguments(args, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Embedding(*args)


# -- FeatureEmbedding ----------------------------------------------------------------------
def feature_embedding() -> FeatureEmbedding:
    layer = FeatureEmbedding([3, 1], [2, 4], 2, name="fe")
    build(layer, 4, needs_input_grad=False)
    layer.table[...] = np.arange(12.0).reshape(6, 2)  # rows 0-1: column 3, rows 2-5: column 1
    return layer


def test_feature_embedding_layout_is_numeric_then_embeddings_in_cat_order() -> None:
    layer = feature_embedding()
    X = np.array([[0.5, 3.0, -1.0, 1.0], [0.25, 0.0, 2.0, 0.0]])
    Y, _ = layer.forward(X, True)
    assert layer.out_features == 2 + 2 * 2
    np.testing.assert_array_equal(Y, [[0.5, -1.0, 2, 3, 10, 11], [0.25, 2.0, 0, 1, 4, 5]])


def test_feature_embedding_backward_uses_each_columns_own_rows() -> None:
    layer = feature_embedding()
    X = np.array([[0.5, 3.0, -1.0, 1.0], [0.25, 3.0, 2.0, 1.0]])
    _, backprop = layer.forward(X, True)
    dY = np.arange(12.0).reshape(2, 6)
    assert backprop(dY) is None
    expected = np.zeros((6, 2))
    expected[1] = dY[0, 2:4] + dY[1, 2:4]  # column 3, id 1
    expected[2 + 3] = dY[0, 4:6] + dY[1, 4:6]  # column 1, id 3
    np.testing.assert_array_equal(layer.dtable, expected)


def test_feature_embedding_names_the_column_with_bad_ids() -> None:
    with pytest.raises(ShapeError, match=r"'fe' column 1: ids must be integers in \[0, 4\)"):
        feature_embedding().forward(np.array([[0.0, 4.0, 0.0, 1.0]]), True)


def test_feature_embedding_in_a_float32_model() -> None:
    model = Model(
        Sequential([FeatureEmbedding([0], [3], 4), Linear(1)]),
        in_features=3,
        ops=make_ops("numpy"),
    )
    Y, backprop = model.forward(np.array([[2.0, 0.1, 0.2], [0.0, 0.3, 0.4]]))
    assert Y.dtype == np.float32 and Y.shape == (2, 1)
    assert backprop(np.ones_like(Y)) is None
    assert model.params.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([], [], 2), r"cat_columns must be a non-empty list of integers. Received: \[\]"),
        (([1, 1], [2, 2], 2), r"distinct non-negative column indices. Received: \[1, 1\]"),
        (([-1], [2], 2), r"distinct non-negative column indices. Received: \[-1\]"),
        (([0, 2], [3], 2), r"2 cat_columns but 1 sizes"),
        (([0], [0], 2), r"every num_embeddings entry must be a positive integer. Received: 0"),
        (([0], [3], 0), r"dim must be a positive integer. Received: 0"),
    ],
)
def test_feature_embedding_bad_arguments(args, match: str) -> None:
    with pytest.raises(ConfigError, match=f"FeatureEmbedding: .*{match}"):
        FeatureEmbedding(*args)


def test_feature_embedding_column_out_of_range_is_found_at_build() -> None:
    with pytest.raises(
        ConfigError, match=r"cat_columns must index the 3 input columns. Received: \[5\]"
    ):
        Model(FeatureEmbedding([5], [2], 2), in_features=3, ops=make_ops("numpy"))


def test_bad_ids_name_the_rows_that_hold_them() -> None:
    """An unseen category (an id past the table) in one row of a batch: the error gave the
    range over the whole batch, and a batch scorer's user could not find the row."""
    X = np.array([[0.0, 1.0, 0.0, 1.0]] * 14)
    X[[3, 12], 1] = 4.0
    with pytest.raises(ShapeError, match=r"column 1: ids must be integers in \[0, 4\). Received "
                       r"ids in \[1\.0, 4\.0\] in 2 of 14 rows \(positions \[3, 12\] in this "
                       r"batch\)$"):  # fmt: skip
        feature_embedding().forward(X, False)
    ids = np.zeros((12, 2))
    ids[1:12, 0] = 0.5
    with pytest.raises(ShapeError, match=r"integer-valued. Received \[0\.5, 0\.5, 0\.5\] in 11 "
                       r"of 12 rows \(positions \[1, 2, 3, 4, 5, 6, 7, 8, 9, 10\]\.\.\. in"):  # fmt: skip
        embedding().forward(ids, False)


def test_a_model_scoring_in_slices_names_the_batchs_rows() -> None:
    """Model.predict scores 8192 rows at a time: the error named the row's position in its
    slice (808 for row 9000 of the batch) and the slice's 8192 rows as the batch."""
    model = Model(Sequential([FeatureEmbedding([1], [4], 2), Linear(1)]), in_features=3, seed=0)
    X = np.zeros((20000, 3))
    X[[9000, 9005], 1] = [4.0, -1.0]
    with pytest.raises(ShapeError, match=r"in 2 of the 8192 rows checked \(positions \[9000, "
                       r"9005\] in this batch of 20000 rows\)$"):  # fmt: skip
        model.predict(X)
    X[[9000, 9005], 1] = 0.0
    X[[17, 20], 1] = 0.5  # smaller slices: rows of the second one
    with pytest.raises(ShapeError, match=r"\[0\.5, 0\.5\] in 2 of the 16 rows checked "
                       r"\(positions \[17, 20\] in this batch of 40 rows\)$"):  # fmt: skip
        model.predict(X[:40], batch_size=16)
    with pytest.raises(
        ShapeError, match=r"in 2 of 40 rows \(positions \[13, 16\] in this batch\)$"
    ):
        model.predict(X[4:44])  # one slice: as before
