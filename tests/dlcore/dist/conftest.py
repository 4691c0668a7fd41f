"""Fixtures for dlcore.dist: loopback groups reused across hypothesis examples."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dlcore.dist import LocalGroup, loopback_config, new_job_secret

# Tiny chunks so that even short test vectors travel in several pipelined chunks.
CHUNKED = loopback_config(chunk_bytes=64, op_timeout=20.0)


class GroupPool:
    """One LocalGroup per world size, rebuilt if an earlier test broke it."""

    def __init__(self) -> None:
        self._groups: dict[int, LocalGroup] = {}

    def get(self, world_size: int) -> LocalGroup:
        group = self._groups.get(world_size)
        if group is None or not all(c.usable for c in group.comms):
            if group is not None:
                group.close()
            group = self._groups[world_size] = LocalGroup(world_size, CHUNKED)
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
