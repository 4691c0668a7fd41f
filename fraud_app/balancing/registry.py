"""`balancing.strategy` name -> strategy class; `from_config` builds the configured one."""

from __future__ import annotations

from fraud_app.balancing.base import BalancingStrategy
from fraud_app.balancing.config import BalancingSection
from fraud_app.balancing.undersample import Undersample
from fraud_app.balancing.unionpay import UnionPaySubsets
from fraud_app.balancing.weights import ClassWeights
from fraud_app.errors import ConfigError

STRATEGIES: dict[str, type[BalancingStrategy]] = {
    cls.name: cls for cls in (UnionPaySubsets, ClassWeights, Undersample)
}


def get_strategy(name: str) -> type[BalancingStrategy]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown balancing strategy {name!r}. Valid strategies: {sorted(STRATEGIES)}"
        ) from None


def from_config(section: BalancingSection) -> BalancingStrategy:
    """The strategy named by `section.strategy`, with its own sub-section's settings."""
    cls = get_strategy(section.strategy)
    params = getattr(section, section.strategy).model_dump()
    return cls(seed=section.seed, label_column=section.label_column, **params)
