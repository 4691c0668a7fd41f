import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlcore.errors import ConfigError, NotBuiltError, ShapeError
from dlcore.params import ParamBuffer, shard_bounds


def test_views_alias_the_flat_vectors():
    pb = ParamBuffer()
    pb.declare("a.W", (2, 3))
    pb.declare("a.b", (3,))
    pb.allocate()
    pb.view("a.W")[...] = 1.0
    pb.grad_view("a.b")[...] = 2.0
    assert pb.size == 9
    assert pb.data.dtype == np.float32 and pb.data.flags.c_contiguous
    np.testing.assert_array_equal(pb.data, [1] * 6 + [0] * 3)
    np.testing.assert_array_equal(pb.grad, [0] * 6 + [2] * 3)
    assert [s.offset for s in pb.specs] == [0, 6]


def test_declare_errors_name_the_problem():
    pb = ParamBuffer()
    pb.declare("x", (2,))
    with pytest.raises(ConfigError, match="declared twice"):
        pb.declare("x", (2,))
    with pytest.raises(ConfigError, match=r"positive dimensions. Received shape \(0, 2\)"):
        pb.declare("y", (0, 2))
    with pytest.raises(NotBuiltError, match="not allocated"):
        _ = pb.data
    pb.allocate()
    with pytest.raises(ConfigError, match="already allocated"):
        pb.declare("z", (1,))
    with pytest.raises(ConfigError, match=r"unknown parameter 'nope'. Known parameters: \['x'\]"):
        pb.view("nope")
    with pytest.raises(ShapeError, match="length 2"):
        pb.set_data(np.zeros(3))


def test_rejects_integer_dtype():
    with pytest.raises(ConfigError, match="float type. Received: int32"):
        ParamBuffer(np.int32)


@given(st.integers(0, 10_000), st.integers(1, 16))
def test_shard_bounds_partition_the_vector(length, world):
    bounds = [shard_bounds(length, world, r) for r in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == length
    for (_, stop), (start, _) in itertools.pairwise(bounds):
        assert stop == start
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((10, 0, 0), "world_size must be >= 1"),
        ((10, 2, 2), r"rank must be in \[0, 2\)"),
        ((-1, 1, 0), "length"),
    ],
)
def test_shard_bounds_bad_arguments(args, match):
    with pytest.raises(ConfigError, match=match):
        shard_bounds(*args)
