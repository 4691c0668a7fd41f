"""ShardedStep on N ranks == one optimizer step in one process on the summed gradient.

The equivalence runs on both transports (the TCP ring and shared memory)."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.collective import LocalGroup, ShardedStep, loopback_config, start_threads
from dlcore.errors import ConfigError, ShapeError
from dlcore.optimizers import LARS, SGD, Adam, Optimizer, OptimizerState, ShardContext
from dlcore.params import ParamBuffer, shard_bounds
from tests.dlcore.collective.conftest import TRANSPORTS

SHAPES = {"w1": (7, 5), "b1": (5,), "w2": (5, 3), "b2": (3,)}
STEPS = 3


def make_params(seed: int = 0) -> ParamBuffer:
    params = ParamBuffer()
    for name, shape in SHAPES.items():
        params.declare(name, shape)
    params.allocate()
    params.data[:] = np.random.default_rng(seed).standard_normal(params.size)
    return params


def rank_grads(world_size: int, size: int) -> list[list[np.ndarray]]:
    """grads[step][rank]: every rank's local gradient at every step."""
    rng = np.random.default_rng(42)
    return [
        [rng.standard_normal(size).astype(np.float32) for _ in range(world_size)]
        for _ in range(STEPS)
    ]


OPTIMIZERS = {
    "sgd-momentum-clip-decay": lambda: SGD(
        learning_rate=0.1, momentum=0.9, weight_decay=1e-2, clip_norm=1.0
    ),
    "adam": lambda: Adam(learning_rate=1e-2),
    "lars-per-tensor-norms": lambda: LARS(learning_rate=0.5, weight_decay=1e-3, exclude_1d=True),
}


def single_process_reference(make_optimizer, grads, grad_scale: float) -> np.ndarray:
    params = make_params()
    optimizer = make_optimizer()
    state = optimizer.init_state(params.size)
    shard = ShardContext.for_params(params)
    for per_rank in grads:
        total = np.sum(per_rank, axis=0, dtype=np.float64).astype(np.float32) * grad_scale
        optimizer.step(params.data, total, state, shard)
    return params.data.copy()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_sharded_step_matches_a_single_process_step(name, world_size, transport):
    make_optimizer = OPTIMIZERS[name]
    size = make_params().size
    grads = rank_grads(world_size, size)
    grad_scale = 1.0 / world_size
    expected = single_process_reference(make_optimizer, grads, grad_scale)

    def train(comm):
        params = make_params()
        step = ShardedStep(comm, make_optimizer(), params)
        for per_rank in grads:
            params.grad[:] = per_rank[comm.rank]
            timings = step.step(params, grad_scale=grad_scale)
            assert timings.sync_s >= 0 and timings.optimizer_s >= 0
        return params.data.copy(), step

    results = start_threads(world_size, train, loopback_config(transport=transport))
    for data, step in results:
        np.testing.assert_allclose(data, expected, rtol=1e-5, atol=1e-6)
        assert data.tobytes() == results[0][0].tobytes()  # identical bits on every rank
        assert step.steps == STEPS and step.state.step == STEPS
    # Optimizer state is sharded: each rank holds only its slice, and the slices tile.
    covered = 0
    for rank, (_, step) in enumerate(results):
        start, stop = step.bounds
        assert (start, stop) == shard_bounds(size, world_size, rank)
        assert all(slot.shape == (stop - start,) for slot in step.state.slots.values())
        covered += stop - start
    assert covered == size


def test_optimizer_state_of_the_shards_equals_the_whole_models_state():
    grads = rank_grads(3, make_params().size)
    params = make_params()
    optimizer = Adam(learning_rate=1e-2)
    whole = optimizer.init_state(params.size)
    for per_rank in grads:
        total = np.sum(per_rank, axis=0, dtype=np.float64).astype(np.float32)
        optimizer.step(params.data, total, whole, ShardContext.for_params(params))

    def train(comm):
        local = make_params()
        step = ShardedStep(comm, Adam(learning_rate=1e-2), local)
        for per_rank in grads:
            local.grad[:] = per_rank[comm.rank]
            step.step(local)
        return step

    for step in start_threads(3, train):
        start, stop = step.bounds
        for slot_name, slot in step.state.slots.items():
            np.testing.assert_allclose(slot, whole.slots[slot_name][start:stop], rtol=1e-5)


def test_a_tiny_test_only_optimizer_also_works():
    class HalfStep(Optimizer):
        def update_step(self, param, grad, lr, state, shard):
            param -= 0.5 * grad

    def train(comm):
        params = make_params()
        params.grad[:] = comm.rank + 1.0
        ShardedStep(comm, HalfStep(), params).step(params)
        return params.data

    for data in start_threads(2, train):
        np.testing.assert_allclose(data, make_params().data - 0.5 * 3.0, rtol=1e-6)


def test_ranks_with_different_models_are_told_so():
    def build(comm):
        params = ParamBuffer()
        params.declare("w", (10 + comm.rank,))
        params.allocate()
        ShardedStep(comm, SGD(), params)

    with pytest.raises(ConfigError, match=r"disagree on the parameter vector length: \[10, 11\]"):
        start_threads(2, build)


def test_compressed_gradients_stay_close_and_weights_stay_identical():
    grads = rank_grads(2, make_params().size)
    expected = single_process_reference(lambda: SGD(learning_rate=0.1), grads, 1.0)

    def train(comm):
        params = make_params()
        step = ShardedStep(comm, SGD(learning_rate=0.1), params, grad_compression="bf16")
        for per_rank in grads:
            params.grad[:] = per_rank[comm.rank]
            step.step(params)
        return params.data.copy()

    a, b = start_threads(2, train, loopback_config(transport="socket"))  # bf16 on the wire
    assert a.tobytes() == b.tobytes()
    # Each step's reduced gradient is off by at most 2 bf16 roundings (2 * 2**-8 relative).
    largest = max(np.abs(np.sum(g, axis=0)).max() for g in grads)
    np.testing.assert_allclose(a, expected, atol=0.1 * STEPS * largest * 2 * 2.0**-8)


def test_load_state_checks_the_shard_length():
    with LocalGroup(2) as group:

        def check(comm):
            step = ShardedStep(comm, SGD(momentum=0.9), make_params())
            good = OptimizerState(step=5, slots={"momentum": np.ones(step.stop - step.start)})
            step.load_state(good)
            assert step.state.step == 5
            with pytest.raises(ShapeError, match="owns"):
                step.load_state(OptimizerState(slots={"momentum": np.ones(1)}))

        group.run(check)


def test_step_rejects_another_layout():
    def run(comm):
        step = ShardedStep(comm, SGD(), make_params())
        other = ParamBuffer()
        other.declare("w", (3,))
        other.allocate()
        with pytest.raises(ShapeError, match="built for 58 parameters"):
            step.step(other)

    start_threads(1, run)
