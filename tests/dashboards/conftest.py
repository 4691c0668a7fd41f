"""Fixtures of the dashboards tests: a small synthetic run that follows the contracts."""

from __future__ import annotations

import pytest

from dashboards.synthetic import SyntheticRun, write_run

SMALL = SyntheticRun(run="r1", members=2, groups=6, scored_days=4, test_rows=3_000, features=8)


@pytest.fixture
def small_run(tmp_path):
    """Sources of a small synthetic run written under tmp_path."""
    return write_run(tmp_path, SMALL)
