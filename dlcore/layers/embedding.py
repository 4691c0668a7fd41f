"""Embedding: a lookup table mapping integer ids to dense vectors.

Input is (N, k) integer-valued ids (they may arrive as float32, the model's dtype:
floats hold integers exactly up to 2**24 = 16.7M ids); each of the k columns is looked
up in ONE shared table of shape (num_embeddings, dim) and the output is (N, k * dim),
the k vectors side by side. For per-column tables and numeric pass-through see
`FeatureEmbedding`.

Owns: the table ("<name>.table" in the ParamBuffer), id validation and the
scatter-add backward. Ids have no gradient, so an Embedding must be the first layer
of a model; `bind()` refuses a layer that is asked for an input gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.backends import Ops
from dlcore.errors import ConfigError, ShapeError
from dlcore.initializers import get_initializer
from dlcore.layers.base import Backprop, Layer
from dlcore.params import ParamBuffer


def positive_int(value: Any, what: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{owner}: {what} must be a positive integer. Received: {value!r}")
    return int(value)


def to_ids(values: np.ndarray, num_embeddings: int, where: str) -> np.ndarray:
    """`values` as intp ids, after checking they are integers in [0, num_embeddings)."""
    if values.dtype.kind not in "biuf":
        raise ShapeError(f"{where}: ids must be numeric. Received dtype {values.dtype}")
    if values.size == 0:
        return values.astype(np.intp)
    lo, hi = values.min(), values.max()
    # `not (a <= b)` also catches NaN.
    if not (lo >= 0 and hi < num_embeddings):
        outside = ~((values >= 0) & (values < num_embeddings))
        raise _id_error(
            f"{where}: ids must be integers in [0, {num_embeddings}). Received ids in [{lo}, {hi}]",
            outside,
        )
    ids = values.astype(np.intp)
    if values.dtype.kind == "f" and not np.array_equal(ids, values):
        fractional = ids != values
        bad = values[fractional][:3]
        raise _id_error(f"{where}: ids must be integer-valued. Received {bad.tolist()}", fractional)
    return ids


def _id_error(head: str, bad: np.ndarray) -> ShapeError:
    """The ShapeError for ids some rows of the batch hold (the error path only): it names
    those rows, so a batch scorer's user finds the row (an unseen category) instead of a
    range over the whole batch. It keeps `id_head`, `id_rows` (the rows' positions) and
    `id_checked` (how many rows were checked), so a caller that checked a slice or a subset
    of its batch names the batch's rows (`relocate_id_error`)."""
    rows = np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1)) if bad.ndim else np.zeros(0, int)
    exc = ShapeError(head + _positions(rows, len(bad), None))
    exc.id_head, exc.id_rows, exc.id_checked = head, rows, len(bad)
    return exc


def _positions(rows: np.ndarray, checked: int, total: int | None) -> str:
    if not len(rows):
        return ""
    shown = f"{rows[:10].tolist()}{'...' if len(rows) > 10 else ''}"
    if total is None:
        return f" in {len(rows)} of {checked} rows (positions {shown} in this batch)"
    return (
        f" in {len(rows)} of the {checked} rows checked (positions {shown} in this batch "
        f"of {total} rows)"
    )


def relocate_id_error(exc: Exception, where: np.ndarray, total: int) -> Exception:
    """`exc`, raised on rows X[where] of a batch of `total` rows (a slice or a subset), with
    the rows it names as positions in the batch; `exc` itself when it names no rows. A
    model scores in slices of `batch_size` rows: the error named a row of the slice
    (position 808 for the batch's row 9000) and the slice's length as the batch's."""
    rows = getattr(exc, "id_rows", None)
    if rows is None or not len(rows):
        return exc
    rows = np.asarray(where)[rows]
    moved = ShapeError(exc.id_head + _positions(rows, exc.id_checked, total))
    moved.id_head, moved.id_rows, moved.id_checked = exc.id_head, rows, exc.id_checked
    return moved


def scatter_add_rows(grad: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """grad[:] = 0, then grad[ids[i]] += rows[i] for every i (repeated ids accumulate).

    One `np.bincount` per embedding column: measured ~4x faster than `np.add.at` on
    (rows, dim) updates, and it sums in float64.
    """
    num = grad.shape[0]
    for j in range(grad.shape[1]):
        grad[:, j] = np.bincount(ids, weights=rows[:, j], minlength=num)


def check_vocabulary(layer: Layer, vocabulary: int, dtype: np.dtype) -> None:
    """Ids reach the layer in the model's dtype: refuse ids that dtype cannot hold exactly."""
    exact = 2 ** (np.finfo(dtype).nmant + 1)  # float32: 2**24
    if vocabulary > exact:
        raise ConfigError(
            f"{type(layer).__name__} {layer.name!r}: a vocabulary of {vocabulary} ids cannot be "
            f"passed exactly as {dtype} model input (integers are exact only up to {exact}). "
            "Use a float64 model or hash the ids into a smaller vocabulary"
        )


def refuse_input_grad(layer: Layer) -> None:
    if layer.needs_input_grad:
        raise ConfigError(
            f"{type(layer).__name__} {layer.name!r} was asked for an input gradient, but ids "
            "have none: put it first in the model (Model and Sequential then skip dX)"
        )


class Embedding(Layer):
    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        *,
        init: str = "glorot_uniform",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.num_embeddings = positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.dim = positive_int(dim, "dim", "Embedding")
        self.init = init
        self.initializer = get_initializer(init)

    def declare(self, params: ParamBuffer, in_features: int) -> int:
        self.in_features = int(in_features)
        self.out_features = self.in_features * self.dim
        check_vocabulary(self, self.num_embeddings, params.dtype)
        params.declare(self.pname("table"), (self.num_embeddings, self.dim))
        return self.out_features

    def bind(self, params: ParamBuffer, ops: Ops) -> None:
        refuse_input_grad(self)
        super().bind(params, ops)
        self.table = params.view(self.pname("table"))
        self.dtable = params.grad_view(self.pname("table"))

    def initialize(self, rng: np.random.Generator) -> None:
        self.table[...] = self.initializer(
            rng, self.table.shape, fan_in=self.num_embeddings, fan_out=self.dim
        )

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        ids = to_ids(X, self.num_embeddings, f"Embedding {self.name!r}").ravel()
        Y = np.take(self.table, ids, axis=0).reshape(X.shape[0], self.out_features)

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            scatter_add_rows(self.dtable, ids, dY.reshape(-1, self.dim))
            if not self.needs_input_grad:
                return None
            return np.zeros(X.shape, dtype=dY.dtype)  # dlcore.attribution: ids have none

        return Y, backprop

    def get_config(self) -> dict[str, Any]:
        return {
            "num_embeddings": self.num_embeddings,
            "dim": self.dim,
            "init": self.init,
            "name": self.name,
        }
