"""A lock file that holds no record: empty, cut, not JSON, not UTF-8, a symbolic link to
nothing (helper lock43, session 43). Each is refused with one message naming the file, why
no holder can be named, and the way out; the file is left as it was.

Before: bytes that are not UTF-8 stopped the command with a UnicodeDecodeError traceback
(exit 1); the others read "an unreadable lock file holds the lock ... (on host ?: `ps -p
?`)"; a dangling symbolic link was "another run keeps taking it" after three tries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.lock import LOCK_NAME, RootLock
from tests.processes import CLI_DEADLINE_S

REPO = Path(__file__).resolve().parents[3]
DAMAGED = {
    "empty": (b"", "not a lock record (empty)"),
    "cut": (b'{"pid": 12', "not a lock record (10 bytes)"),
    "a JSON list": (b"[1, 2]", "not a lock record (6 bytes)"),
    "not UTF-8": (b"\xff\xfe\x00garbage\x80", "not a lock record ("),
}


@pytest.mark.parametrize("content, what", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_lock_file_without_a_record_is_refused_naming_it_and_the_way_out(tmp_path, content, what):
    lock = tmp_path / LOCK_NAME
    lock.write_bytes(content)
    with pytest.raises(ConcurrentRunError) as err:
        RootLock(str(tmp_path), "etl").__enter__()
    text = str(err.value)
    assert text.startswith(f"the lock file {lock} is {what}"), text
    assert f"whether another fraud-app command writes to {tmp_path}" in text, text
    assert f"clear it with `fraud-app unlock --force {lock}`" in text, text
    assert "?" not in text, text  # no `ps -p ?` on host ?
    assert lock.read_bytes() == content


def test_a_symbolic_link_to_nothing_is_named_as_such(tmp_path):
    lock = tmp_path / LOCK_NAME
    lock.symlink_to(tmp_path / "gone")
    with pytest.raises(ConcurrentRunError) as err:
        RootLock(str(tmp_path), "etl").__enter__()
    text = str(err.value)
    assert (
        f"the lock file {lock} is a symbolic link to {tmp_path / 'gone'}, which is not there"
        in text
    )
    assert (
        f"clear it with `fraud-app unlock --force {lock}` (it moves the link aside and "
        "records who cleared it; or delete the link), and run this command again" in text
    ), text
    assert lock.is_symlink()


def test_the_cli_gives_one_error_line_for_a_lock_that_is_not_text(tmp_path):
    """`fraud-app prune` (the quickest command that takes a lock) on a prune lock of
    non-UTF-8 bytes: exit 2 and one `error:` line, no traceback."""
    root = tmp_path / "work"
    root.mkdir()
    (root / ".fraud-app-prune.lock").write_bytes(b"\xff\xfe\x00garbage\x80")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"paths: {{root: '{root}'}}\ntracking: {{enabled: false}}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "pipelines", "-c", str(cfg), "prune"],
                          env=env, capture_output=True, text=True, timeout=CLI_DEADLINE_S)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: the lock file {root / '.fraud-app-prune.lock'} is not a lock "
                      f"record (11 bytes): it names no run, so this host cannot tell whether "
                      f"another fraud-app command writes to {root} (a run killed while a "
                      "release before session 40 wrote its lock, or a damaged file). Check "
                      "that none does, then clear it with `fraud-app unlock --force "
                      f"{root / '.fraud-app-prune.lock'}` (it moves the file aside and records "
                      "who cleared it; or delete the file), and run this command again."]  # fmt: skip
