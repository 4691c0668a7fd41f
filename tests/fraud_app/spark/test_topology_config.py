"""training.distributed.topology and encoded_rows_max_bytes: config -> DistributedConfig, validated on the driver."""

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


def test_encoded_rows_max_bytes_reaches_the_distributed_config():
    default = load_config(None).training.distributed.to_config(seed=0, checkpoint_dir=None)
    assert default.encoded_rows_max_bytes == 1 << 30
    cfg = load_config(None, {"training.distributed.encoded_rows_max_bytes": 0})
    assert (
        cfg.training.distributed.to_config(seed=0, checkpoint_dir=None).encoded_rows_max_bytes == 0
    )
    with pytest.raises(ConfigError, match="encoded_rows_max_bytes"):
        load_config(None, {"training.distributed.encoded_rows_max_bytes": -1})
