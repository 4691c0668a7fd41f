"""Whose lock a run may take over (fraud_app.etl.lock.liveness): only a holder provably of
this host (hostname, boot id, PID namespace) whose pid is gone or reused is dead; any
other counts as alive and is refused with the lock file, the holder's host and pid, why
this host cannot tell and how to clear it (session 40).

Before: the pid alone (with its start time) decided on any host of this hostname, so a
live holder in another PID namespace (a container sharing the hostname) or on another
machine of the same name was read as dead and its lock taken over."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.lock import LOCK_NAME, RootLock, owner_info, process_start

REPO = Path(__file__).resolve().parents[3]
LINUX = process_start(os.getpid()) is not None


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _lock(root: Path, **fields) -> Path:
    path = root / LOCK_NAME
    path.write_text(json.dumps({**owner_info(), "command": "etl", **fields}))
    return path


def _refused(root: Path, pid: int, why: str) -> None:
    lock = root / LOCK_NAME
    with pytest.raises(ConcurrentRunError) as err:
        RootLock(str(root), "etl").__enter__()
    text = str(err.value)
    assert f"holds the lock {lock}" in text, text
    assert f"pid {pid} on host {socket.gethostname()}" in text, text
    assert why in text, text
    # where to run it: on its host, in its PID namespace when not this one (session 43)
    assert re.search(rf"`ps -p {pid}`( there \(a pid is its namespace's own: [^)]*\))?\), "
                     rf"clear it with `fraud-app unlock --force {re.escape(str(lock))}`", text), text  # fmt: skip
    assert "or delete the file) and run this command again" in text, text
    assert lock.exists()


@pytest.mark.skipif(not LINUX, reason="start times and boot ids come from /proc")
def test_this_hosts_live_dead_and_reused_pids_are_told_apart():
    from fraud_app.etl.lock import holder_alive

    me = owner_info()
    assert holder_alive(me) is True
    assert holder_alive({**me, "pid": _dead_pid()}) is False  # gone
    boot = me["process_start"].rsplit(":", 1)[0]
    assert holder_alive({**me, "process_start": f"{boot}:1"}) is False  # reused
    assert holder_alive({**me, "pid": "12"}) is False  # a damaged record of this host
    assert holder_alive({**me, "host": "another-host.example"}) is None


@pytest.mark.skipif(not LINUX, reason="start times and boot ids come from /proc")
def test_a_dead_holder_of_another_machine_with_this_hostname_is_refused(tmp_path):
    """Another machine named like this one (its boot id differs), on a shared disk: its
    pid means nothing here (was: gone here, so its lock was taken over)."""
    pid = _dead_pid()
    _lock(tmp_path, pid=pid, process_start="0b0e7d6c-other-boot:4242", machine_id="another")
    _refused(tmp_path, pid, "it ran under another boot id (0b0e7d6c-other-boot)")


@pytest.mark.skipif(
    not LINUX or not Path("/etc/machine-id").is_file(), reason="needs /etc/machine-id"
)
def test_a_holder_of_this_machine_before_its_reboot_is_stale(tmp_path, caplog):
    """The documented staleness rule: this machine (its /etc/machine-id), another boot."""
    _lock(tmp_path, pid=os.getpid(), process_start="0b0e7d6c-before-reboot:4242")
    with caplog.at_level(logging.WARNING), RootLock(str(tmp_path), "etl"):
        pass
    assert "it ran on this machine before its last reboot" in caplog.text


@pytest.mark.skipif(not LINUX, reason="start times and boot ids come from /proc")
@pytest.mark.parametrize("record", ["no_pid_ns", "no_start"])
def test_a_record_that_cannot_prove_its_host_is_refused(tmp_path, monkeypatch, record):
    """A record of an older release (no pid_ns; no start time): its pid alone proves
    nothing (a container's, or reused), so the operator decides. This process plays a
    container (not the initial PID namespace: its /proc shows its own processes only),
    where no scan of every namespace can prove the pid gone (session 41:
    test_liveness_init_namespace.py)."""
    from fraud_app.etl import lock

    monkeypatch.setattr(lock, "INIT_PID_NS", "pid:[0]")
    pid = _dead_pid()
    path = _lock(tmp_path, pid=pid)
    info = json.loads(path.read_text())
    info.pop("pid_ns" if record == "no_pid_ns" else "process_start")
    path.write_text(json.dumps(info))
    why = "another PID namespace" if record == "no_pid_ns" else "no process start time"
    _refused(tmp_path, pid, why)
    path.unlink()  # the operator's way out, as the message says
    with RootLock(str(tmp_path), "etl"):
        pass


HOLDER = """
import sys, time
from fraud_app.etl.lock import RootLock

with RootLock(sys.argv[1], "etl"):
    print("held", flush=True)
    time.sleep(120)  # alive, in its own PID namespace (a container's)
"""


@pytest.mark.skipif(
    not LINUX or os.geteuid() != 0 or not Path("/usr/bin/unshare").exists(),
    reason="starts a process in its own PID namespace (a container's): needs root and unshare",
)
def test_a_live_holder_in_another_pid_namespace_with_this_hostname_is_refused(tmp_path):
    """Docker with --network host (or a fixed `hostname:`), a pod with hostNetwork: the
    holder is pid 1 or so of its namespace. Before: this process read that pid here, a
    process started at another time, and took the live holder's lock over."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", HOLDER,
         str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "held"
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid_ns"] != owner_info()["pid_ns"]
        _refused(tmp_path, holder["pid"], "it ran in another PID namespace")
        assert child.poll() is None
    finally:
        child.kill()
        child.wait(timeout=30)


def test_an_unreadable_lock_is_refused_naming_the_file(tmp_path):
    (tmp_path / LOCK_NAME).write_text("{not json")
    with pytest.raises(
        ConcurrentRunError, match=re.escape(f"unlock --force {tmp_path / LOCK_NAME}")
    ):
        RootLock(str(tmp_path), "etl").__enter__()


TAKER = """
import sys, time
from fraud_app.etl.lock import RootLock

with RootLock(sys.argv[1], "labels"):  # takes the stale lock over (its holder is dead)
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.skipif(not LINUX, reason="start times come from /proc")
def test_a_stale_lock_another_run_took_over_meanwhile_stays_that_runs(tmp_path, monkeypatch):
    """review41a: two runs meet one stale lock. Both judged it dead; the first removed it
    and took the lock; the second then removed the first one's LIVE lock (it unlinked
    whatever file was at the path) and took the lock too: two writers of one root."""
    from fraud_app.etl import lock as lock_module

    _lock(tmp_path, pid=_dead_pid())  # a dead holder of this machine: stale
    judge = lock_module.liveness
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    children = []

    def slow_judge(info: dict):
        verdict = judge(info)  # dead; before this run acts on it, another takes it over
        if not children:
            child = subprocess.Popen([sys.executable, "-c", TAKER, str(tmp_path)], env=env,
                                     stdout=subprocess.PIPE, text=True)  # fmt: skip
            children.append(child)
            assert child.stdout.readline().strip() == "held"
        return verdict

    monkeypatch.setattr(lock_module, "liveness", slow_judge)
    try:
        with pytest.raises(ConcurrentRunError, match=r"labels \(pid \d+"):
            RootLock(str(tmp_path), "etl").__enter__()
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert (holder["command"], holder["pid"]) == ("labels", children[0].pid)
        assert children[0].poll() is None
    finally:
        for child in children:
            child.kill()
            child.wait(timeout=30)
