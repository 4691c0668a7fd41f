"""dlcore layers: one layer per module, all registered by class name for `layer_from_config`."""

from dlcore.layers.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from dlcore.layers.base import LAYER_REGISTRY, Backprop, Layer, layer_from_config, layer_to_config
from dlcore.layers.batchnorm import BatchNorm1d
from dlcore.layers.dropout import Dropout
from dlcore.layers.embedding import Embedding
from dlcore.layers.feature_embedding import FeatureEmbedding
from dlcore.layers.gaussian_noise import GaussianNoise
from dlcore.layers.linear import Linear
from dlcore.layers.piecewise_linear import PiecewiseLinear, quantile_edges
from dlcore.layers.sequential import Sequential
from dlcore.layers.standardize import Standardize

__all__ = [
    "LAYER_REGISTRY",
    "Backprop",
    "BatchNorm1d",
    "Dropout",
    "Embedding",
    "FeatureEmbedding",
    "GaussianNoise",
    "Layer",
    "LeakyReLU",
    "Linear",
    "PiecewiseLinear",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Standardize",
    "Tanh",
    "layer_from_config",
    "layer_to_config",
    "quantile_edges",
]
