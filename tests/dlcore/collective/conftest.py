"""Fixtures for dlcore.collective: loopback groups reused across hypothesis examples, per transport."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator

import pytest

from dlcore.collective import LocalGroup, loopback_config, new_job_secret

TRANSPORTS = ("socket", "shm")


def chunked(transport: str):
    """Tiny chunks so that even short test vectors travel in several pipelined chunks."""
    return loopback_config(chunk_bytes=64, op_timeout=20.0, transport=transport)


class GroupPool:
    """One LocalGroup per (world size, transport), rebuilt if an earlier test broke it."""

    def __init__(self) -> None:
        self._groups: dict[tuple[int, str], LocalGroup] = {}

    def get(self, world_size: int, transport: str = "socket") -> LocalGroup:
        key = (world_size, transport)
        group = self._groups.get(key)
        if group is None or not all(c.usable for c in group.comms):
            if group is not None:
                group.close()
            group = self._groups[key] = LocalGroup(world_size, chunked(transport))
            expected = transport if world_size > 1 else "none"
            assert [c.transport for c in group.comms] == [expected] * world_size
        return group

    def close(self) -> None:
        for group in self._groups.values():
            group.close()


@pytest.fixture(scope="session")
def groups() -> Iterator[GroupPool]:
    pool = GroupPool()
    yield pool
    pool.close()


@pytest.fixture
def secret() -> bytes:
    return new_job_secret()


@pytest.fixture
def shm_dir() -> Iterator[str]:
    """A private directory in the host's tmpfs, so a test can see every segment file."""
    parent = "/dev/shm" if os.path.isdir("/dev/shm") else None
    path = tempfile.mkdtemp(prefix="dlcore-test-", dir=parent)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two connected sockets, closed after the test."""
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()
