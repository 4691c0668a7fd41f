"""Optimizers on flat parameter vectors (or one rank's shard of them).

The base (`Optimizer`, `ShardContext`, `OptimizerState`, the registry and config
helpers) lives in `base`; each algorithm has its own module.
"""

from dlcore.optimizers.adam import Adam, AdamW
from dlcore.optimizers.base import (
    OPTIMIZER_REGISTRY,
    Optimizer,
    OptimizerState,
    Reducer,
    ShardContext,
    check_number,
    optimizer_from_config,
    optimizer_to_config,
)
from dlcore.optimizers.lars import LARS
from dlcore.optimizers.sgd import SGD

__all__ = [
    "LARS",
    "OPTIMIZER_REGISTRY",
    "SGD",
    "Adam",
    "AdamW",
    "Optimizer",
    "OptimizerState",
    "Reducer",
    "ShardContext",
    "check_number",
    "optimizer_from_config",
    "optimizer_to_config",
]
