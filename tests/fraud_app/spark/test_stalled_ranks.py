"""What the driver says when a rank is alive but stalled (session 33, probe33a).

A rank's task that lands on a stopped Python worker (SIGSTOP: alive, holding its Spark
slot) never registers with the rendezvous: the rank that did times out waiting for the
peer table and can only quote the rendezvous server. The driver's server knows who is
missing, and the stage's cause names that rank. A stall inside a collective names the
silent rank in a line long enough to keep its remedy, and the config key to raise.
Real sockets, no Spark.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dlcore.collective import (
    Communicator,
    Member,
    RendezvousServer,
    loopback_config,
    new_job_secret,
)
from dlcore.collective.deadline import Deadline
from dlcore.collective.rendezvous import rendezvous
from dlcore.errors import PeerTimeoutError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.grouped import unregistered
from fraud_app.spark.stage_job import _root_cause


def test_a_rank_that_never_registers_is_named_in_the_stage_cause():
    secret = new_job_secret()
    cfg = DistributedConfig(num_workers=2, global_batch_size=64, connect_timeout_s=0.5)
    with RendezvousServer(secret, 2, host="127.0.0.1") as server:
        with pytest.raises(PeerTimeoutError) as info:  # rank 1 never comes
            rendezvous(server.address, secret, Member(0, 2, 7), ("127.0.0.1", 9), 0.5)
        cause = unregistered(str(info.value), server.registered(7), 7, cfg)
    assert cause.startswith("deadline of 0.5 s passed while waiting for the peer table")
    assert cause.endswith(
        "; rank(s) [1] never registered with the rendezvous of round 7 (ranks [0] did): their "
        "task did not start within connect_timeout_s=0.5 s, or its Python worker is stuck "
        "(a stopped or frozen process)"
    )


def test_nothing_is_added_when_every_rank_registered_or_none_did():
    cfg = DistributedConfig(num_workers=2, global_batch_size=64)
    assert unregistered("x", [0, 1], 3, cfg) == "x"
    assert unregistered("x", [], 3, cfg) == "x"  # a completed round, or no task started


def test_a_stall_in_a_collective_keeps_its_rank_and_remedy_in_the_stage_cause():
    what = "reduce_scatter (shared memory: inputs written) by rank 0"
    error = Deadline.without_progress(120.0).timeout_error(what, "rank 0")
    spark_text = (
        "org.apache.spark.api.python.PythonException: Traceback (most recent call last):\n"
        '  File "worker.py", line 1, in run_stage\n'
        f"dlcore.errors.PeerTimeoutError: {error}\n"
    )
    cause = _root_cause(RuntimeError(spark_text))
    assert cause == f"dlcore.errors.PeerTimeoutError: {error}"
    assert cause.endswith("(raise the timeout if that is expected)")


def test_a_workers_stall_names_the_config_key_to_raise():
    """The worker's CommConfig names the config file's keys; a real 2-rank group whose rank
    1 never enters the all-reduce (alive, sockets open) says which one to raise."""
    from fraud_app.models.config import DistributedSection
    from fraud_app.spark.worker import TIMEOUT_SETTINGS

    for key in TIMEOUT_SETTINGS.values():
        section, name = key.rsplit(".", 1)
        assert section == "training.distributed" and name in DistributedSection.model_fields
    secret = new_job_secret()
    config = loopback_config(op_timeout=0.3, transport="socket", **TIMEOUT_SETTINGS)
    comms: dict[int, Communicator] = {}
    with RendezvousServer(secret, 2, host="127.0.0.1") as server:
        joins = [
            threading.Thread(
                target=lambda r=r: comms.setdefault(
                    r, Communicator.join(server.address, secret, Member(r, 2), config)
                )
            )
            for r in (0, 1)
        ]
        for t in joins:
            t.start()
        for t in joins:
            t.join(timeout=30)
    try:
        with pytest.raises(PeerTimeoutError) as info:
            comms[0].all_reduce(np.ones(1024, dtype=np.float32))
    finally:
        for comm in comms.values():
            comm.close()
    assert "without progress while waiting for all_reduce" in str(info.value)
    assert str(info.value).endswith("(raise training.distributed.op_timeout_s if that is expected)")
