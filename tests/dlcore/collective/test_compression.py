"""bf16 / fp16 codecs: exact rounding, special values, and error bounds through the ring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcore.collective.compression import BF16, FP16, get_codec
from dlcore.errors import ConfigError

PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
UNIT_ROUNDOFF = {"bf16": 2.0**-8, "fp16": 2.0**-11}  # p significant bits -> 2**-p
SMALLEST_STEP = {"bf16": 2.0**-134, "fp16": 2.0**-25}  # half the smallest subnormal


def bf16_reference(x: float) -> int:
    """Round-to-nearest-even of one float32 to bf16, on the bit pattern, one value at a time."""
    bits = int(np.array([x], dtype=np.float32).view(np.uint32)[0])
    upper, lower = bits >> 16, bits & 0xFFFF
    if lower > 0x8000 or (lower == 0x8000 and upper & 1):
        upper += 1
    return upper


@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=50))
def test_bf16_matches_a_scalar_round_to_nearest_even_reference(values):
    x = np.array(values, dtype=np.float32)
    assert BF16().encode(x).tolist() == [bf16_reference(v) for v in x]


def test_bf16_ties_go_to_even_and_specials_survive():
    bits = np.array(
        [0x3F808000, 0x3F818000, 0x3F80_8001, 0x7F7FFFFF, 0x7F800000, 0xFF800000, 0x00000001],
        dtype=np.uint32,
    )
    encoded = BF16().encode(bits.view(np.float32))
    # tie -> even (down), tie -> even (up), above tie -> up, float32 max -> inf, +-inf, subnormal
    assert encoded.tolist() == [0x3F80, 0x3F82, 0x3F81, 0x7F80, 0x7F80, 0xFF80, 0x0000]


@pytest.mark.parametrize("codec", [BF16(), FP16()])
def test_nan_stays_nan_even_with_payload_bits_that_would_carry(codec):
    nans = np.array([0x7F80_0001, 0xFFFF_FFFF, 0x7FC0_0000], dtype=np.uint32).view(np.float32)
    assert np.isnan(codec.roundtrip(nans)).all()


def test_bf16_matches_torch_when_available():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal(10_000).astype(np.float32) * 1e3
    theirs = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(BF16().encode(x), theirs)


def test_fp16_is_numpys_half_precision():
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32) * 100
    np.testing.assert_array_equal(FP16().roundtrip(x), x.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("name", ["bf16", "fp16"])
@given(st.lists(st.floats(-6e4, 6e4, width=32), min_size=1, max_size=100))
def test_round_trip_error_is_within_one_rounding(name, values):
    x = np.array(values, dtype=np.float32)
    error = np.abs(get_codec(name).roundtrip(x).astype(np.float64) - x)
    assert np.all(error <= UNIT_ROUNDOFF[name] * np.abs(x) + SMALLEST_STEP[name])


@pytest.mark.parametrize("codec", [BF16(), FP16()])
def test_decode_add_accumulates_in_float32(codec):
    out = np.full(4, 1.0, dtype=np.float32)
    codec.decode_add(codec.encode(np.full(4, 2.0**-7, dtype=np.float32)), out)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.float32(1 + 2.0**-7))  # not representable in bf16


def test_unknown_compression_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown compression 'zstd'. Valid values: None"):
        get_codec("zstd")


@PROPERTY
@given(
    name=st.sampled_from(["bf16", "fp16"]),
    world_size=st.integers(1, 8),
    length=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_compressed_all_reduce_is_identical_everywhere_and_within_the_error_bound(
    groups, name, world_size, length, seed
):
    rng = np.random.default_rng(seed)
    inputs = [(rng.standard_normal(length) * 30).astype(np.float32) for _ in range(world_size)]
    bufs = [x.copy() for x in inputs]
    results = groups.get(world_size).run(
        lambda comm: comm.all_reduce(bufs[comm.rank], compression=name)
    )
    for result in results:  # the owner's slice is rounded too, so every rank agrees
        assert result.tobytes() == results[0].tobytes()
    if world_size == 1:
        np.testing.assert_array_equal(results[0], inputs[0])  # nothing travelled
        return
    exact = np.sum(inputs, axis=0, dtype=np.float64)
    magnitude = np.sum(np.abs(inputs), axis=0, dtype=np.float64)
    # n-1 roundings of partial sums on the reduce-scatter, one on the all-gather, plus
    # float32 accumulation: each bounded by u * (sum of |inputs|) (+ fp16 underflow step).
    u = UNIT_ROUNDOFF[name]
    bound = world_size * (u + 2.0**-24) * magnitude + world_size * SMALLEST_STEP[name]
    assert np.all(np.abs(results[0] - exact) <= bound)


@pytest.mark.parametrize(
    ("codecs", "told"),
    [
        (("fp16", "bf16"), "compressed as '(bf16|fp16)', this rank expects '(fp16|bf16)'"),
        ((None, "fp16", None), "compressed as ('fp16'|None), this rank expects (None|'fp16')"),
    ],
)
def test_ranks_passing_different_compressions_are_told_so(codecs, told):
    """Session 49: fp16 and bf16 have the same width, so ranks that disagreed decoded each
    other's bytes: 3 + 3 summed to 5.125 on one rank and 2560 on the other, without an
    error; None against fp16 read as "do all ranks pass buffers of the same length?"."""
    from dlcore.collective import LocalGroup, loopback_config
    from dlcore.errors import FrameError

    config = loopback_config(transport="socket", topology="flat", op_timeout=10.0)
    told += ".*every rank must pass the same compression"
    with LocalGroup(len(codecs), config) as group, pytest.raises(FrameError, match=told):
        group.run(lambda c: c.all_reduce(np.full(8, 3.0, np.float32), compression=codecs[c.rank]))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_fp16_limits_apply_to_the_partial_sums_as_documented(groups):
    """compression.py's and README's examples: every input fits fp16, the ring's partial
    sums do not (30000 x 3 -> inf), or each hop rounds the partial sum to 0 (2e-8 x 3,
    whose sum 6e-8 is an fp16 value, -> 0). bf16 sums both."""
    group = groups.get(3)
    for value, fp16_sum in ((30000.0, np.inf), (2e-8, 0.0)):
        for name in ("fp16", "bf16"):
            results = group.run(
                lambda c, v=value, n=name: c.all_reduce(np.full(5, v, np.float32), compression=n)
            )
            if name == "fp16":
                assert results[0].tolist() == [fp16_sum] * 5
            else:
                np.testing.assert_allclose(results[0], 3 * value, rtol=3 * 2.0**-8)
