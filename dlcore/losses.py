"""Losses on logits: each returns the loss value and its gradient w.r.t. the logits.

Owns: BCEWithLogits, FocalLoss, SoftmaxCrossEntropy, the loss registry and the
stable `sigmoid` / `softplus` helpers. Does not own: the model's backward pass
(the trainer hands `dlogits` to the model's backprop) or metrics.

Reduction. Every loss is called as
`loss(logits, y, sample_weight=None, *, denominator=None) -> (value, dlogits)` and computes

    value   = sum_i(w_i * l_i) / denominator
    dlogits = d value / d logits        (same shape and dtype as logits)

with w_i = 1 when no weights are given and `denominator` defaulting to the number of
samples N. That is PyTorch's `reduction="mean"` with per-sample weights (the mean of
w_i * l_i, NOT divided by sum(w)). The distributed trainer passes the GLOBAL batch
size as `denominator`, so each worker's gradient is its share of the global mean and
summing the workers' gradients (all-reduce, no averaging) gives exactly the gradient
of the global batch, even when workers hold different numbers of rows.

Per-sample terms are computed in float64 (the arrays are (N,) or (N, C), small next
to the layers); dlogits is cast back to the logits' dtype.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from dlcore.errors import ConfigError, ShapeError

LOSS_REGISTRY: dict[str, type[Loss]] = {}


# -- stable helpers --------------------------------------------------------------------
def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow, accurate in relative terms for large |x|.

    Uses r = exp(-|x|) / (1 + exp(-|x|)) = sigmoid(-|x|), then 1 - r where x >= 0.
    Float inputs keep their dtype; other inputs are computed in float64.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    r = np.abs(x)
    np.negative(r, out=r)
    np.exp(r, out=r)
    out = r + 1
    np.divide(r, out, out=r)  # r = sigmoid(-|x|), in (0, 0.5]
    # out = r + (x >= 0) * (1 - 2r): branch-free, measured faster than np.where.
    np.multiply(r, -2, out=out)
    out += 1
    out *= np.greater_equal(x, 0)
    out += r
    return out


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), finite for any finite x."""
    x = np.asarray(x, dtype=np.result_type(x, np.float32))
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


# -- argument checks -------------------------------------------------------------------
def _column(arr: Any, n: int, what: str, owner: str) -> np.ndarray:
    """`arr` as a float64 vector of length n; accepts shape (n,) or (n, 1)."""
    arr = np.asarray(arr)
    if arr.shape not in ((n,), (n, 1)):
        raise ShapeError(
            f"{owner}: {what} must have shape ({n},) or ({n}, 1) to match logits. "
            f"Received shape {arr.shape}"
        )
    if arr.dtype.kind not in "biuf":
        raise ShapeError(f"{owner}: {what} must be numeric. Received dtype {arr.dtype}")
    return arr.reshape(n).astype(np.float64, copy=False)


def _check_weights(sample_weight: Any, n: int, owner: str) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = _column(sample_weight, n, "sample_weight", owner)
    if n and not (np.isfinite(w).all() and w.min() >= 0):
        bad = w[~(np.isfinite(w) & (w >= 0))][:3]
        raise ConfigError(
            f"{owner}: sample_weight must be finite and >= 0. Received values such as {bad.tolist()}"
        )
    return w


def _check_denominator(denominator: Any, n: int, owner: str) -> float:
    if denominator is None:
        return float(n) if n else 1.0
    if (
        isinstance(denominator, bool)
        or not isinstance(denominator, int | float | np.integer | np.floating)
        or not math.isfinite(denominator)
        or denominator <= 0
    ):
        raise ConfigError(
            f"{owner}: denominator must be a positive finite number (usually the global "
            f"batch size). Received: {denominator!r}"
        )
    return float(denominator)


def _check_float(value: Any, what: str, owner: str, lo: float, hi: float = math.inf) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        bounds = f"in [{lo}, {hi}]" if math.isfinite(hi) else f">= {lo}"
        raise ConfigError(f"{owner}: {what} must be a finite number {bounds}. Received: {value!r}")
    return float(value)


# -- base classes ----------------------------------------------------------------------
class Loss:
    """Template: `__call__` validates and reduces; `_per_sample` computes l_i and dl_i/dx."""

    abstract: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("abstract", False):
            LOSS_REGISTRY[cls.__name__] = cls

    def __call__(
        self,
        logits: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        denominator: float | None = None,
    ) -> tuple[float, np.ndarray]:
        owner = type(self).__name__
        logits = np.asarray(logits)
        if logits.dtype.kind != "f":
            raise ShapeError(
                f"{owner}: logits must be a float array. Received dtype {logits.dtype}"
            )
        x, target = self._prepare(logits, y)
        n = x.shape[0]
        w = _check_weights(sample_weight, n, owner)
        scale = 1.0 / _check_denominator(denominator, n, owner)
        losses, grad = self._per_sample(x, target)
        if w is not None:
            losses *= w
            grad *= w.reshape((n,) + (1,) * (grad.ndim - 1))
        grad *= scale
        value = float(np.sum(losses) * scale)
        return value, grad.reshape(logits.shape).astype(logits.dtype, copy=False)

    def _prepare(self, logits: np.ndarray, y: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _per_sample(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class BinaryLoss(Loss):
    """Binary losses: logits of shape (N,) or (N, 1), labels in {0, 1} of the same length
    (in [0, 1] for a loss with `soft_labels`, e.g. mixup's mixed labels)."""

    abstract = True
    soft_labels: ClassVar[bool] = False

    def _prepare(self, logits: np.ndarray, y: Any) -> tuple[np.ndarray, np.ndarray]:
        owner = type(self).__name__
        if logits.ndim not in (1, 2) or (logits.ndim == 2 and logits.shape[1] != 1):
            raise ShapeError(
                f"{owner}: logits must have shape (N,) or (N, 1). Received {logits.shape}"
            )
        n = logits.shape[0]
        target = _column(y, n, "y", owner)
        if self.soft_labels:
            bad = ~((target >= 0) & (target <= 1))
            want = "values in [0, 1]"
        else:
            bad = (target != 0) & (target != 1)
            want = "only 0 and 1"
        if bad.any():
            raise ConfigError(
                f"{owner}: y must contain {want}. Received values such as "
                f"{np.unique(target[bad])[:5].tolist()}"
            )
        return logits.reshape(n).astype(np.float64), target


# -- losses ----------------------------------------------------------------------------
class BCEWithLogits(BinaryLoss):
    """Binary cross-entropy on logits, torch.nn.BCEWithLogitsLoss(pos_weight=p) per sample:

    l = -[p * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x))]
      = (1 - y) * x + (1 + (p - 1) * y) * softplus(-x)

    dl/dx = (1 + (p - 1) * y) * sigmoid(x) - p * y. Finite for any finite logit. Soft labels
    y in [0, 1] are taken (the same formula; torch's loss takes them too).
    """

    abstract = False
    soft_labels = True

    def __init__(self, pos_weight: float = 1.0) -> None:
        self.pos_weight = _check_float(pos_weight, "pos_weight", "BCEWithLogits", 0.0)
        if self.pos_weight == 0.0:
            raise ConfigError("BCEWithLogits: pos_weight must be > 0. Received: 0.0")

    def _per_sample(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.pos_weight
        log_weight = 1.0 + (p - 1.0) * y
        losses = (1.0 - y) * x + log_weight * softplus(-x)
        grad = log_weight * sigmoid(x) - p * y
        return losses, grad

    def get_config(self) -> dict[str, Any]:
        return {"pos_weight": self.pos_weight}


class FocalLoss(BinaryLoss):
    """Focal loss on logits (Lin et al. 2017, "Focal Loss for Dense Object Detection"):

    l = -alpha_t * (1 - p_t)^gamma * log(p_t),   p_t = sigmoid(z),  z = x if y = 1 else -x,
    alpha_t = alpha for positives and 1 - alpha for negatives (no weighting if alpha is None),
    as torchvision.ops.sigmoid_focal_loss. Computed in log space, finite for any logit:
    -log(p_t) = softplus(-z) and (1 - p_t)^gamma = exp(-gamma * softplus(z)).
    """

    abstract = False

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0) -> None:
        self.alpha = None if alpha is None else _check_float(alpha, "alpha", "FocalLoss", 0.0, 1.0)
        self.gamma = _check_float(gamma, "gamma", "FocalLoss", 0.0)

    def _per_sample(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sign = 2.0 * y - 1.0
        z = sign * x
        nll = softplus(-z)  # -log(p_t)
        modulator = np.exp(-self.gamma * softplus(z))  # (1 - p_t)^gamma
        p_t = sigmoid(z)
        losses = modulator * nll
        # d/dz [m * nll] = -m * (gamma * p_t * nll + (1 - p_t))
        grad = -modulator * (self.gamma * p_t * nll + sigmoid(-z)) * sign
        if self.alpha is not None:
            alpha_t = (1.0 - self.alpha) + (2.0 * self.alpha - 1.0) * y
            losses *= alpha_t
            grad *= alpha_t
        return losses, grad

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "gamma": self.gamma}


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of softmax(logits) for (N, C) logits and integer labels in [0, C).

    l = logsumexp(x) - x[y]; dl/dx = softmax(x) - onehot(y). sample_weight weighs rows
    (torch's `weight=` is per CLASS and divides by sum(weights); this does not).
    """

    abstract = False

    def _prepare(self, logits: np.ndarray, y: Any) -> tuple[np.ndarray, np.ndarray]:
        if logits.ndim != 2 or logits.shape[1] < 1:
            raise ShapeError(
                f"SoftmaxCrossEntropy: logits must have shape (N, C). Received {logits.shape}"
            )
        n, c = logits.shape
        target = np.asarray(y)
        if target.shape not in ((n,), (n, 1)) or target.dtype.kind not in "biuf":
            raise ShapeError(
                f"SoftmaxCrossEntropy: y must be class ids of shape ({n},) or ({n}, 1). "
                f"Received shape {target.shape}, dtype {target.dtype}"
            )
        target = target.reshape(n)
        bad = (target < 0) | (target >= c) | (target != np.floor(target))
        if bad.any():
            raise ConfigError(
                f"SoftmaxCrossEntropy: y must hold integer class ids in [0, {c}). "
                f"Received values such as {np.unique(target[bad])[:5].tolist()}"
            )
        return logits.astype(np.float64), target.astype(np.intp)

    def _per_sample(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(x.shape[0])
        shifted = x - x.max(axis=1, keepdims=True)
        grad = np.exp(shifted)
        total = grad.sum(axis=1)
        grad /= total[:, None]
        losses = np.log(total) - shifted[rows, y]
        grad[rows, y] -= 1.0
        return losses, grad


# -- registry --------------------------------------------------------------------------
def loss_to_config(loss: Loss) -> dict[str, Any]:
    return {"type": type(loss).__name__, "config": loss.get_config()}


def loss_from_config(spec: dict[str, Any] | str) -> Loss:
    """Build a loss from `{"type": name, "config": {...}}` or a bare registered name."""
    if isinstance(spec, str):
        spec = {"type": spec, "config": {}}
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"a loss config needs keys 'type' and 'config'. Received: {spec!r}")
    cls = LOSS_REGISTRY.get(spec["type"])
    if cls is None:
        raise ConfigError(
            f"unknown loss type {spec['type']!r}. Known types: {sorted(LOSS_REGISTRY)}"
        )
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise ConfigError(f"loss {spec['type']} config must be a mapping. Received: {config!r}")
    try:
        return cls.from_config(dict(config))
    except TypeError as exc:
        raise ConfigError(f"invalid config for loss {spec['type']}: {exc}") from exc
