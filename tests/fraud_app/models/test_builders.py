"""build_model: a network over dlcore's parameter limit is refused before any weight is
allocated (hiddenLayers=[100000, 100000] on 4 features asked NumPy for 37 GiB: a MemoryError
after the estimator's data pass; a model that large could not be loaded back either)."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.serialization.model import MAX_PARAMETERS
from fraud_app.errors import ConfigError
from fraud_app.models.builders import build_model
from fraud_app.models.config import ModelSection


def test_a_network_over_the_parameter_limit_is_refused_before_allocating():
    with pytest.raises(ConfigError, match=r"a network with hidden layers \[100000, 100000\] on 4 "
                       r"input features has [0-9,]+ parameters, over dlcore's limit of "
                       r"268,435,456 .* training\.model\.hidden \(hiddenLayers"):  # fmt: skip
        build_model(ModelSection(hidden=(100000, 100000)), 4, seed=0)


def test_a_network_under_the_limit_builds_as_before():
    cfg = ModelSection(hidden=(16, 8), encoding="piecewise_linear", encoding_bins=4)
    a, b = build_model(cfg, 5, seed=3), build_model(cfg, 5, seed=3)
    assert 0 < a.params.size < MAX_PARAMETERS
    np.testing.assert_array_equal(a.params.data, b.params.data)
    assert a.get_config() == b.get_config()
