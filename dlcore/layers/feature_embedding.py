"""FeatureEmbedding: embed the categorical columns of a feature matrix, pass the rest through.

A fraud model's input mixes numeric features (amount, counts, velocities) with
categorical ids (merchant category, country, device type) encoded as integer-valued
floats in the same float32 matrix. This layer takes that (N, F) matrix and outputs

    [numeric columns in their original order..., embedding of cat_columns[0], ...]

of width (F - len(cat_columns)) + len(cat_columns) * dim. Each categorical column has
its own vocabulary (`num_embeddings[i]`); all tables live in ONE parameter
"<name>.table" of shape (sum(num_embeddings), dim), column i's rows starting at
sum(num_embeddings[:i]), so lookup and backward are one gather and one scatter.

Owns: column bookkeeping and per-column id validation. Like `Embedding`, it must be
the first layer of a model (ids have no gradient: dlcore.attribution, the one caller that
asks for an input gradient, gets the numeric columns' and 0 for the ids).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.backends import Ops
from dlcore.errors import ConfigError
from dlcore.initializers import get_initializer
from dlcore.layers.base import Backprop, Layer
from dlcore.layers.embedding import (
    check_vocabulary,
    positive_int,
    refuse_input_grad,
    scatter_add_rows,
    to_ids,
)
from dlcore.params import ParamBuffer

_OWNER = "FeatureEmbedding"


def _int_list(values: Any, what: str) -> list[int]:
    if not isinstance(values, list | tuple) or not values:
        raise ConfigError(
            f"{_OWNER}: {what} must be a non-empty list of integers. Received: {values!r}"
        )
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise ConfigError(f"{_OWNER}: {what} must hold integers. Received: {values!r}")
    return [int(v) for v in values]


class FeatureEmbedding(Layer):
    def __init__(
        self,
        cat_columns: list[int],
        num_embeddings: list[int],
        dim: int,
        *,
        init: str = "glorot_uniform",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.cat_columns = _int_list(cat_columns, "cat_columns")
        if min(self.cat_columns) < 0 or len(set(self.cat_columns)) != len(self.cat_columns):
            raise ConfigError(
                f"{_OWNER}: cat_columns must be distinct non-negative column indices. "
                f"Received: {self.cat_columns}"
            )
        self.num_embeddings = [
            positive_int(n, "every num_embeddings entry", _OWNER)
            for n in _int_list(num_embeddings, "num_embeddings")
        ]
        if len(self.num_embeddings) != len(self.cat_columns):
            raise ConfigError(
                f"{_OWNER}: num_embeddings needs one vocabulary size per categorical column: "
                f"{len(self.cat_columns)} cat_columns but {len(self.num_embeddings)} sizes"
            )
        self.dim = positive_int(dim, "dim", _OWNER)
        self.init = init
        self.initializer = get_initializer(init)
        self.offsets = np.cumsum([0, *self.num_embeddings[:-1]]).astype(np.intp)

    def declare(self, params: ParamBuffer, in_features: int) -> int:
        self.in_features = int(in_features)
        if max(self.cat_columns) >= self.in_features:
            raise ConfigError(
                f"{_OWNER} {self.name!r}: cat_columns must index the {self.in_features} input "
                f"columns. Received: {self.cat_columns}"
            )
        cats = set(self.cat_columns)
        self.numeric_columns = [c for c in range(self.in_features) if c not in cats]
        self.out_features = len(self.numeric_columns) + len(self.cat_columns) * self.dim
        check_vocabulary(self, max(self.num_embeddings), params.dtype)
        params.declare(self.pname("table"), (sum(self.num_embeddings), self.dim))
        return self.out_features

    def bind(self, params: ParamBuffer, ops: Ops) -> None:
        refuse_input_grad(self)
        super().bind(params, ops)
        self.table = params.view(self.pname("table"))
        self.dtable = params.grad_view(self.pname("table"))

    def initialize(self, rng: np.random.Generator) -> None:
        self.table[...] = self.initializer(
            rng, self.table.shape, fan_in=self.table.shape[0], fan_out=self.dim
        )

    def _ids(self, X: np.ndarray) -> np.ndarray:
        """(N, len(cat_columns)) row indices into the concatenated table."""
        ids = np.empty((X.shape[0], len(self.cat_columns)), dtype=np.intp)
        for j, (col, num) in enumerate(zip(self.cat_columns, self.num_embeddings, strict=True)):
            where = f"{_OWNER} {self.name!r} column {col}"
            ids[:, j] = to_ids(X[:, col], num, where) + self.offsets[j]
        return ids

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        ids = self._ids(X).ravel()
        n_num = len(self.numeric_columns)
        Y = np.empty((X.shape[0], self.out_features), dtype=self.table.dtype)
        Y[:, :n_num] = X[:, self.numeric_columns]
        Y[:, n_num:] = np.take(self.table, ids, axis=0).reshape(X.shape[0], -1)

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            scatter_add_rows(self.dtable, ids, dY[:, n_num:].reshape(-1, self.dim))
            if not self.needs_input_grad:
                return None
            # asked only by dlcore.attribution (training refuses it at bind): the numeric
            # columns pass through, an id has no gradient (0)
            dX = np.zeros(X.shape, dtype=dY.dtype)
            dX[:, self.numeric_columns] = dY[:, :n_num]
            return dX

        return Y, backprop

    def get_config(self) -> dict[str, Any]:
        return {
            "cat_columns": list(self.cat_columns),
            "num_embeddings": list(self.num_embeddings),
            "dim": self.dim,
            "init": self.init,
            "name": self.name,
        }
