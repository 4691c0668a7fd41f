"""A lock of a release before session 40 (no `pid_ns`) after the upgrade, judged from the
machine's initial PID namespace (fraud_app.etl.lock.runs_nowhere; session 41).

Before: such a record, written on this boot, was refused once after the upgrade even when
its pid was gone ("it recorded no PID namespace ..."): the lock had to be deleted by hand.
From the initial PID namespace /proc lists every process of the kernel, each with its pid
in its own namespace (the last of `NSpid`): when none has the recorded pid, no process of
this machine, in any container, can be the holder. A live holder in another namespace is
listed there, so it stays refused (a real process in its own PID namespace, with a pid that
no process of the initial namespace has)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl import lock
from fraud_app.etl.lock import LOCK_NAME, RootLock, liveness, owner_info, pid_namespace

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(
    lock.process_start(os.getpid()) is None or pid_namespace() != lock.INIT_PID_NS
    or not lock._full_proc(),
    reason="judged from the initial PID namespace with a /proc that shows every process",
)  # fmt: skip


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _legacy(pid: int) -> dict:
    """owner_info as sessions 38-39 wrote it: a start time of this boot, no pid_ns."""
    info = {**owner_info(), "pid": pid, "command": "etl"}
    for key in ("pid_ns", "machine_id"):
        info.pop(key)
    return info


def test_an_older_releases_lock_of_a_gone_pid_is_taken_over(tmp_path, caplog):
    pid = _dead_pid()
    (tmp_path / LOCK_NAME).write_text(json.dumps(_legacy(pid)))
    assert liveness(_legacy(pid)) == (
        False, f"pid {pid} runs in no PID namespace of this machine (seen from its initial PID "
        "namespace)")  # fmt: skip
    with caplog.at_level(logging.WARNING), RootLock(str(tmp_path), "etl"):  # was: refused
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert "runs in no PID namespace of this machine" in caplog.text


def test_a_record_without_a_start_time_is_still_refused(tmp_path):
    """A record of before session 38 has no boot id: it may be another machine's of this
    hostname (a shared disk), whose pids this /proc does not list."""
    info = _legacy(_dead_pid())
    info.pop("process_start")
    (tmp_path / LOCK_NAME).write_text(json.dumps(info))
    with pytest.raises(ConcurrentRunError, match="no process start time"):
        RootLock(str(tmp_path), "etl").__enter__()


HOLDER = """
import json, os, sys, time
from pathlib import Path
from fraud_app.etl.lock import owner_info

info = {**owner_info(), "command": "etl"}
info.pop("pid_ns")  # as a release before session 40 wrote it
Path(sys.argv[1]).write_text(json.dumps(info))
print(os.getpid(), flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/bin/unshare").exists(),
    reason="starts a process in its own PID namespace (a container's): needs root and unshare",
)
def test_a_live_holder_in_another_namespace_is_still_refused(tmp_path):
    """The holder runs in its own PID namespace under a pid (ns_last_pid) that no process of
    this namespace has: its pid is gone HERE, yet the scan finds it."""
    lock_file = tmp_path / LOCK_NAME
    free = next(p for p in range(32000, 1000, -1) if not Path(f"/proc/{p}").exists())
    script = (f"echo {free - 1} > /proc/sys/kernel/ns_last_pid && {sys.executable} -c "
              f"'{HOLDER}' {lock_file}")  # fmt: skip
    child = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        inner = int(child.stdout.readline())
        assert inner == free
        with pytest.raises(ProcessLookupError):
            os.kill(inner, 0)  # not a pid of this namespace
        with pytest.raises(ConcurrentRunError, match="it recorded no PID namespace"):
            RootLock(str(tmp_path), "etl").__enter__()
        assert lock_file.exists()
    finally:
        child.kill()
        child.wait(timeout=30)
