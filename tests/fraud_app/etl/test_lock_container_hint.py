"""Where the refusal of a lock this host cannot judge tells the operator to look for its
holder (helper lock43, session 43): `ps -p N` in the PID namespace the holder ran in.

Before: "if it no longer runs (on host vm: `ps -p N`)" whatever the namespace. Inside a
container `ps` lists the container's processes only, so a LIVE holder on the machine
itself (or in another container) looked gone from there, and the message led the operator
to `unlock --force` a lock whose run still wrote to the root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.etl import lock
from fraud_app.etl.lock import pid_namespace
from fraud_app.etl.lock_text import check_hint
from tests.processes import CLI_DEADLINE_S

REPO = Path(__file__).resolve().parents[3]
INIT = "pid:[4026531836]"
THERE = (
    " there (a pid is its namespace's own: `ps` here may show another process of that "
    "number, or none)"
)


@pytest.mark.parametrize(
    "info, hint",
    [
        ({"pid": 7, "host": "other"}, "on host other: `ps -p 7`"),
        ({"pid": 7, "host": "vm", "pid_ns": "pid:[9]"}, "on host vm: `ps -p 7`"),
        ({"pid": 7, "host": "vm", "pid_ns": INIT},
         "on host vm, on the machine itself, outside any container: `ps -p 7`" + THERE),
        ({"pid": 7, "host": "vm", "pid_ns": "pid:[5]"},
         "on host vm, in the container of PID namespace pid:[5]: `ps -p 7`" + THERE),
        ({"pid": 7, "host": "vm", "process_start": "b:1"},
         "on host vm, in the PID namespace it ran in (not recorded; a run or `fraud-app "
         "unlock` on the machine itself, outside any container, takes it over if its pid is "
         "gone): `ps -p 7`" + THERE),
        ({"pid": 7, "host": "vm"},
         "on host vm, in the PID namespace it ran in (not recorded): `ps -p 7`" + THERE),
    ],
    ids=["another host", "this namespace", "the machine's own", "another container", "38-39",
         "before 38"],
)  # fmt: skip
def test_the_hint_names_the_namespace_to_look_in(info, hint):
    assert check_hint(info, "vm", "pid:[9]", INIT) == hint


HOLDER = """
import sys, time
from fraud_app.etl.lock import RootLock

with RootLock(sys.argv[1], "etl"):
    print("held", flush=True)
    time.sleep(120)
"""
JUDGE = """
import sys
from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.lock import RootLock

try:
    RootLock(sys.argv[1], "labels").__enter__()
except ConcurrentRunError as exc:
    print(exc)
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/bin/unshare").exists() or pid_namespace() != INIT
    or lock.process_start(os.getpid()) is None,
    reason="a real container-like PID namespace (unshare) judging a holder of the host's",
)  # fmt: skip
def test_a_container_is_told_the_holder_runs_outside_it(tmp_path):
    """A live `etl` on the machine itself holds the lock; a `labels` in its own PID
    namespace (unshare --pid --mount-proc: a container's view) is refused, told to look
    outside the container; the pid is indeed not visible from inside."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        judged = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", JUDGE,
             str(tmp_path)], env=env, capture_output=True, text=True, timeout=CLI_DEADLINE_S,
        )  # fmt: skip
        seen = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "ps", "-p", str(holder.pid)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait(timeout=30)
    text = judged.stdout
    assert f"etl (pid {holder.pid} on host" in text, (text, judged.stderr)
    assert "it ran in another PID namespace" in text, text
    assert (f"outside any container: `ps -p {holder.pid}` there (a pid is its namespace's "
            "own: `ps` here may show another process of that number, or none)), clear it "
            "with") in text, text  # fmt: skip
    assert seen.returncode == 1  # from inside, `ps -p` finds no such process
