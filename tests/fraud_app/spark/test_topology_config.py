"""training.distributed.topology: config -> DistributedConfig, validated on the driver."""

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.spark.config import DistributedConfig


def test_topology_reaches_the_distributed_config():
    cfg = load_config(None, {"training.distributed.topology": "flat"})
    assert cfg.training.distributed.to_config(seed=0, checkpoint_dir=None).topology == "flat"


def test_unknown_topology_is_a_clear_error():
    with pytest.raises(ConfigError, match="topology must be"):
        DistributedConfig(topology="ring")
