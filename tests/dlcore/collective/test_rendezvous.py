"""Rendezvous: full tables per round, and clear refusals for everything else."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from dlcore.collective import Member, RendezvousServer, new_job_secret, rendezvous
from dlcore.errors import AuthenticationError, CommunicationError, ConfigError, PeerTimeoutError


@pytest.fixture
def server(secret) -> Iterator[RendezvousServer]:
    with RendezvousServer(secret, world_size=3, host="127.0.0.1") as srv:
        yield srv


def register(server, secret, rank, world_size=3, round_id=0, port=None, timeout=10.0):
    member = Member(rank, world_size, round_id)
    return rendezvous(server.address, secret, member, ("", port or 5000 + rank), timeout)


def register_all(server, secret, ranks, round_id=0):
    with ThreadPoolExecutor(len(ranks)) as pool:
        futures = [pool.submit(register, server, secret, r, 3, round_id) for r in ranks]
        return [f.result(timeout=15) for f in futures]


def test_every_rank_gets_the_same_table_ordered_by_rank(server, secret):
    tables = register_all(server, secret, [2, 0, 1])
    expected = [("127.0.0.1", 5000), ("127.0.0.1", 5001), ("127.0.0.1", 5002)]
    assert tables == [expected] * 3


def test_an_advertised_host_is_kept(server, secret):
    with ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(
                rendezvous, server.address, secret, Member(r, 3), (f"10.0.0.{r}", 7000), 10.0
            )
            for r in range(3)
        ]
        tables = [f.result(timeout=15) for f in futures]
    assert tables[0] == [("10.0.0.0", 7000), ("10.0.0.1", 7000), ("10.0.0.2", 7000)]


def test_wrong_secret_is_refused_at_rendezvous_and_logged(server, caplog):
    with (
        caplog.at_level(logging.WARNING, logger="dlcore.collective.auth"),
        pytest.raises(AuthenticationError, match="wrong job secret"),
    ):
        register(server, new_job_secret(), 0)
    assert "refused connection from 127.0.0.1" in caplog.text
    assert "'rank': 0" in caplog.text  # the log names who tried


def test_wrong_world_size_is_refused(server, secret):
    with pytest.raises(AuthenticationError, match="this job has 3 ranks, rank 1 announced 4"):
        register(server, secret, 1, world_size=4)


def test_duplicate_rank_in_a_round_is_refused(server, secret):
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(register, server, secret, 1)
        _wait_registered(server, 0, [1])
        with pytest.raises(CommunicationError, match="rank 1 is already registered for round 0"):
            register(server, secret, 1)
        server.close()  # releases the pending first registration
        with pytest.raises(CommunicationError, match="server was closed"):
            first.result(timeout=10)


def test_missing_ranks_time_out_with_a_clear_message(server, secret):
    with pytest.raises(
        PeerTimeoutError, match=r"all 3 ranks of round 0 registered; this is rank 0"
    ):
        register(server, secret, 0, timeout=0.2)


def test_a_new_round_supersedes_pending_registrations_and_old_rounds_are_stale(server, secret):
    with ThreadPoolExecutor(1) as pool:
        stale = pool.submit(register, server, secret, 0, 3, 0)
        _wait_registered(server, 0, [0])
        tables = register_all(server, secret, [0, 1, 2], round_id=1)
        with pytest.raises(CommunicationError, match="round superseded by round 1"):
            stale.result(timeout=10)
    assert len(tables) == 3 and tables[0] == tables[2]
    with pytest.raises(CommunicationError, match="round 0 is stale"):
        register(server, secret, 2, round_id=0)
    with pytest.raises(CommunicationError, match="round 1 is stale"):
        register(server, secret, 2, round_id=1)  # completed rounds cannot be rejoined


def test_the_server_can_run_many_rounds(server, secret):
    for round_id in (0, 1, 5):
        assert len(register_all(server, secret, [0, 1, 2], round_id)) == 3


def test_invalid_members_are_rejected_at_construction():
    with pytest.raises(ConfigError, match=r"rank must be in \[0, 2\)"):
        Member(2, 2)
    with pytest.raises(ConfigError, match="world_size must be >= 1"):
        Member(0, 0)


def _wait_registered(server: RendezvousServer, round_id: int, ranks: list[int]) -> None:
    assert server.wait_registered(round_id, len(ranks), timeout=10.0) == ranks
