"""Optimizers: hand-computed steps, clipping, sharded equivalence, allocation, config."""

from __future__ import annotations

import copy
import math
import tracemalloc

import numpy as np
import pytest

from dlcore.errors import ConfigError
from dlcore.optimizers import (
    LARS,
    SGD,
    Adam,
    AdamW,
    Optimizer,
    OptimizerState,
    ShardContext,
    optimizer_from_config,
    optimizer_to_config,
)
from dlcore.params import ParamBuffer, shard_bounds
from dlcore.schedules import CosineDecay, StepDecay


def run(opt: Optimizer, w0, grads, shard_of=None) -> np.ndarray:
    """Apply one step per gradient in `grads` to a float64 copy of `w0`."""
    w = np.array(w0, dtype=np.float64)
    state = opt.init_state(w.size, np.float64)
    for g in grads:
        g = np.array(g, dtype=np.float64)
        opt.step(w, g, state, shard_of(w) if shard_of else None)
    return w


# -- SGD --------------------------------------------------------------------------------
def test_sgd_plain_step():
    w = run(SGD(learning_rate=0.1), [1.0, -2.0], [[0.5, 1.0], [1.0, -1.0]])
    np.testing.assert_allclose(w, [1.0 - 0.05 - 0.1, -2.0 - 0.1 + 0.1], rtol=1e-12)


def test_sgd_momentum_three_steps():
    # buf: 1, 1.9, 2.71 -> w: -0.1, -0.29, -0.561
    w = run(SGD(learning_rate=0.1, momentum=0.9), [0.0], [[1.0]] * 3)
    np.testing.assert_allclose(w, [-0.561], rtol=1e-12)


def test_sgd_nesterov_three_steps():
    # buf: 1, 1.9, 2.71; update g + 0.9 buf: 1.9, 2.71, 3.439 -> w = -0.1 * 8.049
    w = run(SGD(learning_rate=0.1, momentum=0.9, nesterov=True), [0.0], [[1.0]] * 3)
    np.testing.assert_allclose(w, [-0.8049], rtol=1e-12)


def test_sgd_dampening_applies_after_first_step():
    # torch: the first buffer is the raw gradient; then buf = 0.9 * 1 + 0.5 * 1 = 1.4
    w = run(SGD(learning_rate=0.1, momentum=0.9, dampening=0.5), [0.0], [[1.0]] * 2)
    np.testing.assert_allclose(w, [-0.1 - 0.14], rtol=1e-12)


def test_sgd_weight_decay_is_coupled_l2():
    # g' = g + 0.1 w with g = 0: w <- w * (1 - 0.1 * 0.1) twice
    w = run(SGD(learning_rate=0.1, weight_decay=0.1), [1.0, -3.0], [[0.0, 0.0]] * 2)
    np.testing.assert_allclose(w, np.array([1.0, -3.0]) * 0.99**2, rtol=1e-12)


def test_sgd_without_momentum_keeps_no_slots():
    assert SGD(learning_rate=0.1).init_state(5).slots == {}
    assert set(SGD(learning_rate=0.1, momentum=0.5).init_state(5).slots) == {"momentum"}


# -- Adam / AdamW ----------------------------------------------------------------------------
def test_adam_two_steps_match_torch_formula():
    lr, eps = 0.01, 1e-8
    w = run(Adam(learning_rate=lr), [0.5], [[1.0], [-2.0]])
    # step 1: m = 0.1, v = 0.001; step_size = lr / 0.1, denom = sqrt(0.001 / 0.001) + eps
    w1 = 0.5 - (lr / 0.1) * 0.1 / (1.0 + eps)
    # step 2: m = 0.09 - 0.2, v = 0.000999 + 0.004, bc1 = 0.19, bc2 = 0.001999
    m2, v2 = 0.09 - 0.2, 0.000999 + 0.004
    w2 = w1 - (lr / 0.19) * m2 / (math.sqrt(v2) / math.sqrt(0.001999) + eps)
    np.testing.assert_allclose(w, [w2], rtol=1e-12)


def test_adam_constant_gradient_moves_lr_per_step():
    # With a constant gradient c the bias-corrected moments are c and c^2 exactly.
    w = run(Adam(learning_rate=0.01), [0.0, 0.0], [[3.0, -0.5]] * 3)
    np.testing.assert_allclose(w, [-0.03 * 3 / (3 + 1e-8), 0.03 * 0.5 / (0.5 + 1e-8)], rtol=1e-9)


def test_adam_weight_decay_is_added_to_the_gradient():
    w = run(Adam(learning_rate=0.01, weight_decay=0.5), [1.0], [[0.0]])
    np.testing.assert_allclose(w, [1.0 - 0.01 * 0.5 / (0.5 + 1e-8)], rtol=1e-12)


def test_adamw_decays_weights_before_the_adam_update():
    step = 0.01 / (1.0 + 1e-8)  # the Adam move for a constant gradient of 1
    w = run(AdamW(learning_rate=0.01, weight_decay=0.1), [1.0], [[1.0], [1.0]])
    w1 = 1.0 * (1 - 0.01 * 0.1) - step
    np.testing.assert_allclose(w, [w1 * (1 - 0.01 * 0.1) - step], rtol=1e-12)
    assert AdamW().weight_decay == 0.01 and not AdamW().couples_weight_decay()


# -- LARS ---------------------------------------------------------------------------------------
W0, G = [3.0, 4.0, 2.0], [0.6, 0.8, 1.0]
SEGMENTS, NDIMS = ((0, 2), (2, 3)), (2, 1)


def two_tensors(w: np.ndarray) -> ShardContext:
    return ShardContext(0, w.size, SEGMENTS, segment_ndims=NDIMS)


def test_lars_two_steps_per_tensor_trust_ratio():
    opt = LARS(learning_rate=1.0, momentum=0.9, trust_coefficient=0.5, weight_decay=0.1)
    # step 1: tensor 0 trust 0.5*5/(1+0.5) = 5/3, u = 5/3*[0.9, 1.2] = [1.5, 2.0];
    #         tensor 1 trust 0.5*2/(1+0.2) = 5/6, u = 5/6*1.2 = 1.0
    w1 = run(opt, W0, [G], two_tensors)
    np.testing.assert_allclose(w1, [1.5, 2.0, 1.0], rtol=1e-12)
    # step 2: tensor 0 trust 0.5*2.5/(1+0.25) = 1, v = 0.9*[1.5, 2] + [0.75, 1.0];
    #         tensor 1 trust 0.5/1.1, u = 0.5, v = 0.9 + 0.5
    w2 = run(opt, W0, [G, G], two_tensors)
    np.testing.assert_allclose(w2, [1.5 - 2.1, 2.0 - 2.8, 1.0 - 1.4], rtol=1e-12)


def test_lars_exclude_1d_leaves_biases_at_trust_one():
    opt = LARS(learning_rate=1.0, trust_coefficient=0.5, weight_decay=0.1, exclude_1d=True)
    w = run(opt, W0, [G], two_tensors)
    np.testing.assert_allclose(w, [1.5, 2.0, 2.0 - 1.2], rtol=1e-12)


def test_lars_zero_weights_or_gradient_use_trust_one():
    opt = LARS(learning_rate=0.1, momentum=0.0, trust_coefficient=0.001)
    w = run(opt, [0.0, 0.0, 2.0], [[1.0, 1.0, 0.0]], two_tensors)
    np.testing.assert_allclose(w, [-0.1, -0.1, 2.0], rtol=1e-12)


def test_lars_without_segments_treats_the_vector_as_one_tensor():
    opt = LARS(learning_rate=1.0, momentum=0.0, trust_coefficient=0.5)
    w = run(opt, [3.0, 4.0], [[0.6, 0.8]])  # trust 0.5*5/1 = 2.5
    np.testing.assert_allclose(w, [3.0 - 1.5, 4.0 - 2.0], rtol=1e-12)


def test_lars_needs_segments_covering_the_shard():
    opt = LARS()
    with pytest.raises(ConfigError, match=r"cover the whole shard \[0, 3\).*covering 2"):
        opt.step(np.ones(3), np.ones(3), opt.init_state(3), ShardContext(0, 3, ((0, 2),)))


def test_lars_exclude_1d_needs_segment_ndims():
    opt = LARS(exclude_1d=True)
    with pytest.raises(ConfigError, match=r"segment_ndims.*Received 0 for 2 segments"):
        opt.step(np.ones(3), np.ones(3), opt.init_state(3), ShardContext(0, 3, SEGMENTS))


# -- clipping by global norm ------------------------------------------------------------------
def test_clipping_scales_to_the_global_norm():
    w = run(SGD(learning_rate=1.0, clip_norm=1.0), [0.0, 0.0], [[3.0, 4.0]])
    np.testing.assert_allclose(w, [-0.6, -0.8], rtol=1e-9)


def test_clipping_leaves_small_gradients_alone():
    w = run(SGD(learning_rate=1.0, clip_norm=10.0), [0.0, 0.0], [[3.0, 4.0]])
    np.testing.assert_allclose(w, [-3.0, -4.0], rtol=0)


def test_clipping_happens_before_adam_moments():
    # A clipped gradient of [0.6, 0.8] still moves Adam by lr per coordinate.
    w = run(Adam(learning_rate=0.01, clip_norm=1.0), [0.0, 0.0], [[30.0, 40.0]])
    np.testing.assert_allclose(w, [-0.01 * 0.6 / (0.6 + 1e-8), -0.01 * 0.8 / (0.8 + 1e-8)])


# -- sharded equivalence ----------------------------------------------------------------------
SHAPES = [(3, 4), (3,), (4, 3), (1,), (2, 2)]


def make_params() -> ParamBuffer:
    buf = ParamBuffer(np.float32)
    for i, shape in enumerate(SHAPES):
        buf.declare(f"t{i}", shape)
    buf.allocate()
    return buf


class _Pending(Exception):
    """Raised by the dry-run reducer to hand its partial out of a step."""

    def __init__(self, partial: np.ndarray) -> None:
        super().__init__("pending reduce_sum")
        self.partial = partial


def sharded_step(opt, buf, param, grad, states, bounds) -> None:
    """One step on every shard, with reduce_sum simulated in-process.

    A step may call reduce_sum several times and later partials can depend on earlier
    sums (clipping, then LARS norms), so sums are learnt one call at a time: dry-run
    every shard on copies until it asks for the first unknown sum, add the partials,
    repeat; finally run every shard for real with all sums known.
    """
    known: list[np.ndarray] = []

    def context(start, stop, calls):
        def reduce_sum(x):
            i = len(calls)
            calls.append(i)
            if i < len(known):
                return known[i].copy()
            raise _Pending(x.copy())

        return ShardContext.for_params(buf, start, stop, reduce_sum)

    while True:
        partials = []
        for (start, stop), state in zip(bounds, states, strict=True):
            p, g, st = param[start:stop].copy(), grad[start:stop].copy(), copy.deepcopy(state)
            try:
                opt.step(p, g, st, context(start, stop, []))
            except _Pending as pending:
                partials.append(pending.partial)
        if not partials:
            break
        assert len(partials) == len(bounds), "every shard must make the same reduce_sum calls"
        known.append(np.sum(partials, axis=0))
    for (start, stop), state in zip(bounds, states, strict=True):
        opt.step(param[start:stop], grad[start:stop], state, context(start, stop, []))


OPTIMIZERS = {
    "sgd": (lambda: SGD(learning_rate=0.1), True),
    "sgd-nesterov-wd": (
        lambda: SGD(learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
        True,
    ),
    "sgd-clip": (lambda: SGD(learning_rate=0.1, momentum=0.9, clip_norm=0.5), False),
    "adam": (lambda: Adam(learning_rate=1e-2, weight_decay=1e-3), True),
    "adamw-clip": (lambda: AdamW(learning_rate=1e-2, clip_norm=0.5), False),
    "lars": (lambda: LARS(learning_rate=0.5, weight_decay=1e-3, trust_coefficient=0.02), False),
    "lars-clip-exclude": (
        lambda: LARS(learning_rate=0.5, weight_decay=1e-3, exclude_1d=True, clip_norm=0.5),
        False,
    ),
}


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_sharded_step_equals_unsharded_step(name, world_size):
    factory, elementwise = OPTIMIZERS[name]
    buf = make_params()
    rng = np.random.default_rng(7)
    w0 = rng.normal(size=buf.size).astype(np.float32)
    grads = [rng.normal(size=buf.size).astype(np.float32) for _ in range(3)]

    opt, ref = factory(), w0.copy()
    ref_state = opt.init_state(buf.size)
    for g in grads:
        opt.step(ref, g.copy(), ref_state, ShardContext.for_params(buf))

    opt, sharded = factory(), w0.copy()
    bounds = [shard_bounds(buf.size, world_size, r) for r in range(world_size)]
    states = [opt.init_state(stop - start) for start, stop in bounds]
    for g in grads:
        sharded_step(opt, buf, sharded, g.copy(), states, bounds)

    if elementwise:  # no reductions: the very same float32 operations
        np.testing.assert_array_equal(sharded, ref)
    else:  # norms summed in another order: equal to float32 rounding
        np.testing.assert_allclose(sharded, ref, rtol=1e-6, atol=1e-7)
    for name_, slot in ref_state.slots.items():
        joined = np.concatenate([s.slots[name_] for s in states])
        np.testing.assert_allclose(joined, slot, rtol=1e-6, atol=1e-7)


def test_lars_with_more_shards_than_elements():
    buf = ParamBuffer(np.float32)
    buf.declare("w", (2,))
    buf.declare("b", (1,))
    buf.allocate()
    w0, g = np.array(W0, np.float32), np.array(G, np.float32)
    opt = LARS(learning_rate=1.0, momentum=0.9, trust_coefficient=0.5, weight_decay=0.1)
    bounds = [shard_bounds(3, 5, r) for r in range(5)]  # two shards are empty
    states = [opt.init_state(stop - start) for start, stop in bounds]
    sharded_step(opt, buf, w0, g, states, bounds)
    np.testing.assert_allclose(w0, [1.5, 2.0, 1.0], rtol=1e-6)


# -- float32 hot path --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "opt",
    [
        SGD(learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
        Adam(weight_decay=1e-4, clip_norm=1.0),
        AdamW(),
        LARS(weight_decay=1e-4),
    ],
    ids=type,
)
def test_steps_allocate_no_parameter_sized_temporaries(opt):
    n = 200_000  # 800 kB of float32
    param = np.random.default_rng(0).normal(size=n).astype(np.float32)
    grad = np.ones(n, dtype=np.float32)
    state = opt.init_state(n)
    opt.step(param, grad, state)  # creates the reusable work arrays
    tracemalloc.start()
    try:
        for _ in range(3):
            opt.step(param, grad, state)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n  # far below one float32 temporary (4 n bytes)
    assert param.dtype == np.float32
    assert all(s.dtype == np.float32 for s in state.slots.values())


# -- config and arguments ------------------------------------------------------------------
@pytest.mark.parametrize(
    "opt",
    [
        SGD(learning_rate=StepDecay(0.1, 10, 0.5), momentum=0.9, nesterov=True, clip_norm=2.0),
        Adam(learning_rate=CosineDecay(1e-3, 100, warmup_steps=5), beta_2=0.99),
        AdamW(weight_decay=0.05, epsilon=1e-6),
        LARS(trust_coefficient=0.01, exclude_1d=True, epsilon=1e-9),
    ],
    ids=type,
)
def test_config_round_trip(opt):
    back = optimizer_from_config(optimizer_to_config(opt))
    assert type(back) is type(opt)
    assert back.get_config() == opt.get_config()


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: SGD(momentum=-0.1), r"momentum must be a number in \[0, 1\)\. Received: -0\.1"),
        (lambda: SGD(momentum=1.0), r"momentum must be .* Received: 1\.0"),
        (lambda: SGD(dampening=2), r"dampening must be a number in \[0, 1\]\. Received: 2"),
        (lambda: SGD(nesterov=True), r"nesterov=True needs momentum > 0.*momentum=0\.0"),
        (lambda: SGD(nesterov="yes"), r"nesterov must be True or False\. Received: 'yes'"),
        (lambda: Adam(beta_1=1.0), r"beta_1 must be a number in \[0, 1\)\. Received: 1\.0"),
        (lambda: Adam(beta_2=True), r"beta_2 must be .* Received: True"),
        (lambda: Adam(epsilon=0.0), r"epsilon must be a number in \(0, inf\)\. Received: 0\.0"),
        (lambda: AdamW(weight_decay=-1), r"weight_decay must be .* Received: -1"),
        # session 46: a bool was a number here (weight_decay=True: a decay of 1.0)
        (lambda: Adam(weight_decay=True), r"weight_decay must be .* Received: True"),
        (lambda: SGD(clip_norm=True), r"clip_norm must be .* Received: True"),
        (lambda: LARS(clip_norm=0.0), r"clip_norm must be a number in \(0, inf\]\. Received: 0\.0"),
        (lambda: Adam(weight_decay=float("inf")), r"weight_decay must be .* Received: inf"),
        (lambda: LARS(trust_coefficient=0), r"trust_coefficient must be .* Received: 0"),
        (lambda: LARS(epsilon=float("nan")), r"epsilon must be .* Received: nan"),
        (lambda: LARS(exclude_1d=1), r"exclude_1d must be True or False\. Received: 1"),
        (lambda: Adam(learning_rate="fast"), r"learning_rate must be .* Received: 'fast'"),
    ],
)
def test_bad_arguments_name_argument_and_value(factory, message):
    with pytest.raises(ConfigError, match=message):
        factory()


def test_numpy_scalars_are_numbers_for_weight_decay_and_clip_norm():
    """np.float32(0.1) was refused ('must be a finite number >= 0') where every other
    setting took it."""
    opt = Adam(weight_decay=np.float32(0.5), clip_norm=np.float64(2.0))
    assert opt.weight_decay == 0.5 and opt.clip_norm == 2.0
    assert type(opt.weight_decay) is float and type(opt.clip_norm) is float
    assert Adam(clip_norm=float("inf")).clip_norm == float("inf")  # no clipping, as before


def test_unknown_config_key_is_a_config_error():
    with pytest.raises(ConfigError, match="invalid config for optimizer Adam"):
        optimizer_from_config({"type": "Adam", "config": {"beta3": 0.5}})


def test_shard_context_for_params_validates_bounds():
    buf = make_params()
    ctx = ShardContext.for_params(buf, 5, 20)
    assert ctx.segments[1] == (12, 15) and ctx.segment_ndims == (2, 1, 2, 1, 2)
    with pytest.raises(ConfigError, match=r"start=5, stop=99"):
        ShardContext.for_params(buf, 5, 99)


def test_state_scratch_is_not_part_of_state_equality():
    a, b = OptimizerState(step=1), OptimizerState(step=1)
    a.work_array("tmp", np.zeros(3, np.float32))
    assert a == b
