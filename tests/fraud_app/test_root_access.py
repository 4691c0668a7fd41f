"""paths.root's access rule is the same for a notebook (load_config) and the CLI.

Before, the CLI only made a new root 0700, and the Python API did nothing: a root every
user could write (their tables and models swapped in) or read (score partitions with card
ids) went without a word. A root is checked where other users can reach it: every folder
above it lets them through, which pytest's 0700 tmp_path does not, so these tests work
in a 0755 folder of their own.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import EnvironmentSetupError
from tests.pipelines.test_cli_errors import REPO


@pytest.fixture
def open_parent():
    """A folder every user may pass through, like /srv or a home made with umask 022."""
    parent = Path(tempfile.mkdtemp(prefix="root-access-"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


def _root(parent: Path, mode: int) -> Path:
    root = parent / f"root-{mode:o}"
    root.mkdir()
    root.chmod(mode)
    return root


def test_a_root_every_user_may_write_is_refused_by_the_api(open_parent):
    root = _root(open_parent, 0o777)
    with pytest.raises(EnvironmentSetupError, match=r"is writable by every user \(mode 0777"):
        load_config(None, {"paths.root": str(root)})


def test_a_local_root_every_user_may_write_is_refused_naming_it(open_parent):
    # session 44: with a remote paths.root the driver's files (locks, mlflow.db, models)
    # go to paths.local_root, checked as a local root is, and named in the error
    shared = _root(open_parent, 0o777)
    with pytest.raises(EnvironmentSetupError, match=r"^paths\.local_root '.+' is writable by"):
        load_config(None, {"paths.root": "hdfs://nn:8020/d", "paths.local_root": str(shared)})


def test_a_root_others_may_read_is_named_once_in_a_warning(open_parent, caplog):
    root = _root(open_parent, 0o755)
    with caplog.at_level(logging.WARNING, logger="fraud_app.root_access"):
        load_config(None, {"paths.root": str(root)})
        load_config(None, {"paths.root": str(root)})  # a notebook's second cell
    (record,) = [r for r in caplog.records if r.name == "fraud_app.root_access"]
    assert f"paths.root {root} is mode 0755" in record.getMessage()
    assert f"`chmod o-rwx {root}`" in record.getMessage()


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o770, 0o1777])
def test_private_group_and_sticky_roots_load(open_parent, caplog, mode):
    root = _root(open_parent, mode)
    with caplog.at_level(logging.WARNING, logger="fraud_app.root_access"):
        load_config(None, {"paths.root": str(root)})
    named = [r for r in caplog.records if r.name == "fraud_app.root_access"]
    assert len(named) == (1 if mode == 0o1777 else 0)  # /tmp-like: readable, not refused


def test_a_root_no_other_user_can_reach_is_not_named(tmp_path, caplog):
    root = _root(tmp_path, 0o777)  # in pytest's 0700 folder: nobody else gets there
    with caplog.at_level(logging.WARNING, logger="fraud_app.root_access"):
        load_config(None, {"paths.root": str(root)})
    assert not [r for r in caplog.records if r.name == "fraud_app.root_access"]


def test_the_cli_refuses_the_same_root_before_spark_starts(open_parent, tmp_path):
    root = _root(open_parent, 0o777)
    (tmp_path / "c.yaml").write_text(f"paths:\n  root: {root}\ntracking:\n  enabled: false\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "JAVA_HOME": str(tmp_path / "no-java")}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "-c", str(tmp_path / "c.yaml"), "etl"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"error: paths.root '{root}' is writable by every user" in result.stderr
