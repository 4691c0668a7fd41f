"""Turn the `training` config section into dlcore objects (registries, no if-chains in callers)."""

from __future__ import annotations

from dlcore.layers import (
    Dropout,
    GaussianNoise,
    LeakyReLU,
    Linear,
    PiecewiseLinear,
    ReLU,
    Sequential,
    Standardize,
    Tanh,
)
from dlcore.layers.batchnorm import BatchNorm1d
from dlcore.losses import BCEWithLogits, FocalLoss
from dlcore.model import Model
from dlcore.optimizers import LARS, SGD, Adam, AdamW
from dlcore.optimizers.base import Optimizer
from dlcore.params import ParamBuffer
from dlcore.serialization.model import MAX_PARAMETERS
from fraud_app.errors import ConfigError
from fraud_app.models.config import LossSection, ModelSection, OptimizerSection

ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh}


def build_model(cfg: ModelSection, in_features: int, seed: int) -> Model:
    """The MLP of `cfg` on `in_features` inputs; a network over dlcore's parameter limit is a
    ConfigError before any weight is allocated (hiddenLayers=[100000, 100000] asked NumPy for
    37 GiB and ended in a MemoryError; a model that large could not be loaded back either)."""
    size = ParamBuffer()
    Sequential(_layers(cfg)).declare(size, in_features)  # counts only: never allocated
    if size.size > MAX_PARAMETERS:
        raise ConfigError(
            f"a network with hidden layers {list(cfg.hidden)} on {in_features} input features "
            f"has {size.size:,} parameters, over dlcore's limit of {MAX_PARAMETERS:,} (a model "
            "that large could not be saved and loaded back); use smaller training.model.hidden "
            "(hiddenLayers of the fraud_app.ml estimators) or fewer features"
        )
    return Model(Sequential(_layers(cfg)), in_features=in_features, seed=seed)


def _layers(cfg: ModelSection) -> list:
    layers = [Standardize(clip=cfg.standardize_clip, name="standardize")]
    if cfg.input_noise > 0:
        layers.append(GaussianNoise(cfg.input_noise, name="input_noise"))
    if cfg.encoding == "piecewise_linear":
        layers.append(PiecewiseLinear(cfg.encoding_bins, name="encoding"))
    for width in cfg.hidden:
        layers.append(Linear(width))
        if cfg.batchnorm:
            layers.append(BatchNorm1d())
        layers.append(ACTIVATIONS[cfg.activation]())
        if cfg.dropout > 0:
            layers.append(Dropout(cfg.dropout))
    layers.append(Linear(1, init="glorot_uniform"))
    return layers


def build_loss(cfg: LossSection):
    if cfg.type == "focal":
        return FocalLoss(alpha=cfg.focal_alpha, gamma=cfg.focal_gamma)
    return BCEWithLogits(pos_weight=cfg.pos_weight)


_OPTIMIZERS = {
    "adam": lambda c: Adam(
        learning_rate=c.learning_rate, weight_decay=c.weight_decay, clip_norm=c.clip_norm
    ),
    "adamw": lambda c: AdamW(
        learning_rate=c.learning_rate, weight_decay=c.weight_decay, clip_norm=c.clip_norm
    ),
    "sgd": lambda c: SGD(
        learning_rate=c.learning_rate,
        momentum=c.momentum,
        weight_decay=c.weight_decay,
        clip_norm=c.clip_norm,
    ),
    "lars": lambda c: LARS(
        learning_rate=c.learning_rate,
        momentum=c.momentum,
        weight_decay=c.weight_decay,
        clip_norm=c.clip_norm,
    ),
}


def build_optimizer(cfg: OptimizerSection) -> Optimizer:
    return _OPTIMIZERS[cfg.type](cfg)
