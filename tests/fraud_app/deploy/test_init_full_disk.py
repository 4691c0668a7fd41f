"""`fraud-app init` on a disk that fills part-way (probe31b's Left): it wrote in place, so the
specs copied so far and a truncated config.yaml stayed, and the re-run was refused until
--force. A write past the process's file-size limit (RLIMIT_FSIZE in a child process,
SIGXFSZ ignored: write() fails with EFBIG part-way, as on a full disk) stands for the full
disk: unprivileged. The starter config is ~14 KB, each spec under 1 KB."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _init(directory: Path, fsize: int | None) -> subprocess.CompletedProcess:
    limit = f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize}))" if fsize else ""
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        {limit}
        from pipelines.cli import main
        sys.exit(main(["init", {str(directory)!r}]))
    """)
    # no .pyc: one written under the file-size limit is cut short (a short write that
    # CPython renames into place) and breaks every later import of that module
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("exists", [False, True], ids=["new-dir", "empty-dir"])
def test_init_on_a_full_disk_leaves_nothing_and_the_rerun_needs_no_force(tmp_path, exists):
    target = tmp_path / "a" / "proj"
    if exists:
        target.mkdir(parents=True)
    failed = _init(target, fsize=8192)
    assert failed.returncode == 2
    err = failed.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"error: fraud-app init: cannot write into {target}: File too large"
    ), failed.stderr
    # was: feature_specs/ (8 specs) and config.yaml (8,192 of its ~14 KB bytes) left behind
    if exists:
        assert list(target.iterdir()) == []
    else:
        assert not (tmp_path / "a").exists()
    assert "nothing was written" in err[0]

    done = _init(target, fsize=None)  # space again: no --force needed
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in target.iterdir()) == ["config.yaml", "feature_specs"]
    assert len(list((target / "feature_specs").glob("*.yaml"))) == 8
    assert (target / "config.yaml").read_text().endswith("\n")


def test_init_neither_creates_nor_checks_paths_root(tmp_path):
    """`init` writes a project folder; it made the default paths.root (`./work`) in the
    directory it ran in, and (session 39's root check) warned about one there that other
    users can reach, a line more on stderr (a suite ran flaky on it when an earlier test
    left ./work 0755 in the repository)."""
    cwd = tmp_path / "here"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "init", str(tmp_path / "proj")],
        capture_output=True, text=True, env=env, timeout=120, cwd=cwd,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not (cwd / "work").exists()
    assert "paths.root" not in done.stderr
