"""Where a distributed divergence began, named in the error (session 48): it named the
group and the first iteration whose loss was not finite, no rank, and always advised a
lower learning rate, also when the cause was fp16 compression overflowing on the wire
(every rank's gradient finite, their sum past 65504) which no learning rate or clip_norm
fixes. The workers now report where each step first went bad (dlcore ShardedStep:
own gradient, received sum, weights); the driver names the rank and the stage. Real
ranks (threads on loopback sockets) for the step; the message from the reports."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.collective import ShardedStep, loopback_config, start_threads
from dlcore.optimizers import SGD
from dlcore.params import ParamBuffer
from fraud_app.errors import TrainingDivergedError
from fraud_app.spark.engine_base import check_finite

ENTRY = {"group": 2, "start_iteration": 8, "end_iteration": 12, "loss": float("nan")}
NAN_WEIGHTS = {"params": np.array([1.0, np.nan], np.float32)}


def _meta(loss=None, grad=None, summed=None, weights=None):
    return {"nonfinite_loss_at": loss, "nonfinite_grad_at": grad,
            "nonfinite_sum_at": summed, "nonfinite_weights_at": weights}  # fmt: skip


def _message(metas, compression=None, first_bad=None) -> str:
    with pytest.raises(TrainingDivergedError) as info:
        check_finite(ENTRY, NAN_WEIGHTS, first_bad, metas=metas, compression=compression)
    return str(info.value)


def test_a_rank_whose_own_gradient_went_first_is_named():
    # rank 1's own gradient at 9; everything after it follows (the sum at 9, losses at 10)
    metas = [_meta(loss=10, summed=9, weights=9), _meta(loss=10, grad=9, summed=9, weights=9)]
    message = _message(metas, first_bad=10)
    assert message.startswith(
        "training diverged in group 2 (iterations 8-12, first at iteration 9): the loss is "
        "nan; 1 of 2 values of 'params' are NaN or infinite; it began on rank 1: its own loss "
        "or gradient was NaN or infinite at iteration 9, before the sum over the ranks. "
    )
    assert "(the rows of rank 1's partition at that iteration)" in message


def test_an_fp16_overflow_on_the_wire_says_to_change_the_compression():
    metas = [_meta(loss=10, summed=9, weights=9), _meta(loss=10, weights=9)]
    message = _message(metas, compression="fp16", first_bad=10)
    assert (
        "first at iteration 9): the loss is nan; 1 of 2 values of 'params' are NaN or "
        "infinite; it began in the sum over the ranks at iteration 9: every rank's own "
        "gradient was finite, the sum rank 0 received was not (fp16 on the wire holds "
        "nothing above 65504)."
    ) in message
    assert message.endswith(
        "Set training.distributed.compression to bf16 (float32's range) or null; clip_norm "
        "cannot help, it clips the sum after it arrived. Or scale the features down "
        "(gradients grow with them)"
    )
    assert "learning_rate" not in message


def test_an_update_too_large_is_the_optimizer_step_on_every_rank():
    metas = [_meta(loss=1, weights=0), _meta(loss=1, weights=0)]
    message = _message(metas, first_bad=1)
    assert "first at iteration 0)" in message
    assert "it began in the optimizer step of iteration 0: the gradients and their sum were " \
           "finite on every rank" in message  # fmt: skip
    assert "Lower the learning rate (training.optimizer.learning_rate)" in message


def test_ranks_going_at_once_are_all_named_and_old_reports_keep_the_old_message():
    assert "it began on ranks 0, 2: its own loss" in _message(
        [_meta(loss=3, grad=3), _meta(summed=3), _meta(grad=3)]
    )
    every = _message([_meta(loss=3), _meta(loss=3, grad=3)])
    assert (
        "it began on every rank at once: their own losses or gradients were NaN or "
        "infinite at iteration 3, from finite weights. "
    ) in every
    assert "partition" not in every
    old = _message([{"nonfinite_loss_at": 4}, {}], first_bad=4)  # no stages reported
    assert "first at iteration 4)" in old and "it began on rank 0" in old
    plain = _message([{}, {}], first_bad=None)
    assert "first at iteration" not in plain and "it began" not in plain


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_the_step_reports_a_sum_that_overflowed_fp16_on_the_wire():
    """Each of 3 ranks' gradient 40,000 (finite in fp16); the ring sends partial sums,
    80,000 (not). (Of 2 ranks, each sends its own gradient alone: 70,000 overflows.)"""

    def train(comm):
        params = ParamBuffer()
        params.declare("w", (64,))
        params.allocate()
        step = ShardedStep(comm, SGD(learning_rate=1e-6), params, grad_compression="fp16")
        params.grad[:] = 1.0
        step.step(params)
        first = step.last_finite
        params.grad[:] = 40_000.0
        step.step(params)
        return first, step.last_finite

    for first, second in start_threads(3, train, loopback_config(transport="socket")):
        assert first == (True, True, True)
        assert second == (True, False, False)  # own finite, sum not, weights not


def test_one_worker_is_not_told_to_look_at_its_partitions_rows():
    """With num_workers 1 the usual cause, finite but huge weights (every rank at once for
    two or more), read as "it began on rank 0 ... before the sum over the ranks" plus "the
    rows of rank 0's partition at that iteration": a data problem (review48c)."""
    message = _message([_meta(loss=3, grad=3, summed=3, weights=3)])
    assert "first at iteration 3)" in message
    assert "it began in the loss or gradient of iteration 3 (one worker), from finite " \
           "weights. " in message  # fmt: skip
    assert "partition" not in message and "rank 0" not in message
    assert message.endswith("check the scale of the features and weights")


def test_the_advice_reads_the_compression_the_sum_went_through_not_the_configured_one():
    """Session 49: on one host the ranks sum in shared memory, float32 whatever
    training.distributed.compression says; a sum past float32's range was then blamed on
    "fp16 on the wire" and the advice was to change the compression, which changes
    nothing. The workers now report the compression their sum went through."""
    exact = [{**_meta(loss=10, summed=9, weights=9), "wire_compression": None}] * 2
    message = _message(exact, compression="fp16", first_bad=10)
    assert (
        "the sum ranks 0, 1 received was not (past float32's range; fp16 compression did "
        "not apply: the ranks summed in shared memory, in float32)."
    ) in message
    assert "65504" not in message and "Set training.distributed.compression" not in message
    assert "Lower the learning rate" in message
    wire = [{**_meta(loss=10, summed=9, weights=9), "wire_compression": "fp16"}] * 2
    assert "fp16 on the wire holds nothing above 65504" in _message(wire, compression="fp16")


def test_the_step_says_shared_memory_sums_are_not_compressed():
    """ShardedStep.last_wire_compression: None on shared memory, the codec on sockets."""

    def train(comm):
        params = ParamBuffer()
        params.declare("w", (64,))
        params.allocate()
        step = ShardedStep(comm, SGD(learning_rate=1e-6), params, grad_compression="fp16")
        step.step(params)
        return comm.transport, step.last_wire_compression

    for transport in ("shm", "socket"):
        config = loopback_config(transport=transport, topology="flat")
        for got in start_threads(2, train, config):
            assert got == (transport, None if transport == "shm" else "fp16")
