"""Losses: contract harness, closed forms, stability at huge logits, validation, registry."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from dlcore.errors import ConfigError, ShapeError
from dlcore.losses import (
    LOSS_REGISTRY,
    BCEWithLogits,
    FocalLoss,
    SoftmaxCrossEntropy,
    loss_from_config,
    loss_to_config,
)
from tests.dlcore.harness import check_loss

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(0.0, 3.0, size=8)
Y = np.array([0, 1, 1, 0, 0, 1, 0, 1])
W = RNG.uniform(0.0, 2.0, size=8)


def naive_bce(x, y, p=1.0):
    s = 1 / (1 + np.exp(-x))
    return -(p * y * np.log(s) + (1 - y) * np.log(1 - s))


def naive_focal(x, y, alpha, gamma):
    s = 1 / (1 + np.exp(-x))
    p_t = np.where(y == 1, s, 1 - s)
    a_t = np.where(y == 1, alpha, 1 - alpha)
    return -a_t * (1 - p_t) ** gamma * np.log(p_t)


BINARY = {
    "bce": BCEWithLogits(),
    "bce_pos_weight": BCEWithLogits(pos_weight=7.5),
    "focal": FocalLoss(),
    "focal_gamma_half": FocalLoss(alpha=0.6, gamma=0.5),
    "focal_no_alpha": FocalLoss(alpha=None, gamma=3.0),
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("weights", [None, W], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("column", [False, True], ids=["(N,)", "(N,1)"])
def test_binary_loss_contract(name: str, weights, column: bool) -> None:
    logits = LOGITS[:, None] if column else LOGITS
    check_loss(BINARY[name], logits, Y, weights)


@pytest.mark.parametrize("weights", [None, W], ids=["unweighted", "weighted"])
def test_softmax_cross_entropy_contract(weights) -> None:
    logits = RNG.normal(0.0, 2.0, size=(8, 4))
    check_loss(SoftmaxCrossEntropy(), logits, np.array([0, 3, 1, 2, 2, 0, 3, 1]), weights)


def test_bce_closed_forms() -> None:
    value, grad = BCEWithLogits()(np.zeros(4), np.array([0, 1, 0, 1]))
    assert value == pytest.approx(np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(grad, [0.125, -0.125, 0.125, -0.125])
    for p in (1.0, 3.0):
        value, _ = BCEWithLogits(pos_weight=p)(LOGITS, Y, W, denominator=5.0)
        assert value == pytest.approx(np.sum(W * naive_bce(LOGITS, Y, p)) / 5.0, rel=1e-12)


def test_focal_matches_paper_formula_and_reduces_to_alpha_weighted_bce() -> None:
    value, _ = FocalLoss(alpha=0.25, gamma=2.0)(LOGITS, Y)
    assert value == pytest.approx(naive_focal(LOGITS, Y, 0.25, 2.0).mean(), rel=1e-12)
    focal, dfocal = FocalLoss(alpha=0.3, gamma=0.0)(LOGITS, Y)
    alpha_t = np.where(Y == 1, 0.3, 0.7)
    bce, dbce = BCEWithLogits()(LOGITS, Y, alpha_t)
    assert focal == pytest.approx(bce, rel=1e-12)
    np.testing.assert_allclose(dfocal, dbce, rtol=1e-12)
    no_alpha, _ = FocalLoss(alpha=None, gamma=0.0)(LOGITS, Y)
    assert no_alpha == pytest.approx(BCEWithLogits()(LOGITS, Y)[0], rel=1e-12)


def test_softmax_cross_entropy_closed_form() -> None:
    value, grad = SoftmaxCrossEntropy()(np.zeros((2, 4)), np.array([1, 3]))
    assert value == pytest.approx(np.log(4.0))
    np.testing.assert_allclose(grad, [[0.125, -0.375, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", [*BINARY.values(), SoftmaxCrossEntropy()], ids=repr)
def test_huge_logits_give_finite_loss_and_gradient(loss, dtype: str) -> None:
    big = np.array([1e4, -1e4, 1e4, -1e4, 50.0, -50.0], dtype=dtype)
    y = np.array([1, 1, 0, 0, 1, 0])
    if isinstance(loss, SoftmaxCrossEntropy):
        big = np.stack([big, -big], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = loss(big, y)
    assert np.isfinite(value) and np.isfinite(grad).all() and grad.dtype == np.dtype(dtype)


def test_bce_huge_logits_exact_values() -> None:
    value, grad = BCEWithLogits()(np.array([1e4, -1e4, 1e4, -1e4]), np.array([1, 1, 0, 0]))
    assert value == pytest.approx((0 + 1e4 + 1e4 + 0) / 4)
    np.testing.assert_allclose(grad, [0, -0.25, 0.25, 0], atol=1e-300)


def test_empty_batch_with_global_denominator_contributes_nothing() -> None:
    value, grad = BCEWithLogits()(np.zeros(0, dtype=np.float32), np.zeros(0), denominator=64)
    assert value == 0.0 and grad.shape == (0,) and grad.dtype == np.float32


def test_bce_takes_soft_labels_as_the_same_formula() -> None:
    """Mixed (mixup) labels in [0, 1]: the loss is the y-weighted mix of the two hard-label
    losses, and its gradient passes the contract; labels outside [0, 1] are refused."""
    soft = np.linspace(0.0, 1.0, len(LOGITS))
    loss = BCEWithLogits(pos_weight=3.0)
    check_loss(loss, LOGITS, soft, W)
    value, _ = loss(LOGITS, soft, denominator=1.0)
    ones, zeros = np.ones_like(soft), np.zeros_like(soft)
    per_one = np.array([loss(LOGITS[i : i + 1], ones[:1], denominator=1.0)[0] for i in range(8)])
    per_zero = np.array([loss(LOGITS[i : i + 1], zeros[:1], denominator=1.0)[0] for i in range(8)])
    assert value == pytest.approx(float(np.sum(soft * per_one + (1 - soft) * per_zero)), rel=1e-12)
    with pytest.raises(ConfigError, match=r"y must contain values in \[0, 1\]. Received .*1.5"):
        loss(LOGITS, soft + 0.5)
    with pytest.raises(ConfigError, match="FocalLoss: y must contain only 0 and 1"):
        FocalLoss()(LOGITS, soft)


# -- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: BCEWithLogits()(LOGITS, Y[:5]), ShapeError,
         r"BCEWithLogits: y must have shape \(8,\) or \(8, 1\) to match logits. Received shape \(5,\)"),
        (lambda: BCEWithLogits()(np.zeros((8, 2)), Y), ShapeError,
         r"logits must have shape \(N,\) or \(N, 1\). Received \(8, 2\)"),
        (lambda: BCEWithLogits()(Y, Y), ShapeError, r"logits must be a float array. Received dtype int"),
        (lambda: FocalLoss()(LOGITS, Y * 2), ConfigError,
         r"FocalLoss: y must contain only 0 and 1. Received values such as \[2.0\]"),
        (lambda: BCEWithLogits()(LOGITS, Y, -W), ConfigError,
         r"sample_weight must be finite and >= 0. Received values such as \[-"),
        (lambda: BCEWithLogits()(LOGITS, Y, W[:3]), ShapeError,
         r"sample_weight must have shape \(8,\) or \(8, 1\)"),
        (lambda: BCEWithLogits()(LOGITS, Y, denominator=0), ConfigError,
         r"denominator must be a positive finite number \(usually the global batch size\). Received: 0"),
        (lambda: SoftmaxCrossEntropy()(np.zeros((3, 4)), np.array([0, 4, 1])), ConfigError,
         r"y must hold integer class ids in \[0, 4\). Received values such as \[4\]"),
        (lambda: SoftmaxCrossEntropy()(np.zeros(3), np.array([0, 1, 1])), ShapeError,
         r"logits must have shape \(N, C\). Received \(3,\)"),
    ],
)  # fmt: skip
def test_bad_inputs_name_argument_and_value(call, error, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: BCEWithLogits(pos_weight=0), r"pos_weight must be > 0. Received: 0"),
        (lambda: BCEWithLogits(pos_weight=-1.0), r"pos_weight must be a finite number >= 0.0. Received: -1.0"),
        (lambda: FocalLoss(alpha=1.5), r"alpha must be a finite number in \[0.0, 1.0\]. Received: 1.5"),
        (lambda: FocalLoss(gamma=float("nan")), r"gamma must be a finite number >= 0.0. Received: nan"),
    ],
)  # fmt: skip
def test_bad_constructor_arguments(make, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


# -- registry ------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", [*BINARY.values(), SoftmaxCrossEntropy()], ids=repr)
def test_config_json_round_trip(loss) -> None:
    clone = loss_from_config(json.loads(json.dumps(loss_to_config(loss))))
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()


def test_registry_lookup_by_name_and_errors() -> None:
    assert set(LOSS_REGISTRY) >= {"BCEWithLogits", "FocalLoss", "SoftmaxCrossEntropy"}
    assert "BinaryLoss" not in LOSS_REGISTRY
    assert isinstance(loss_from_config("FocalLoss"), FocalLoss)
    with pytest.raises(
        ConfigError, match=r"unknown loss type 'MSE'. Known types: \['BCEWithLogits'"
    ):
        loss_from_config({"type": "MSE", "config": {}})
    with pytest.raises(ConfigError, match="invalid config for loss FocalLoss"):
        loss_from_config({"type": "FocalLoss", "config": {"beta": 1}})
