"""tests/forked.py's waits end and leave no child behind (review44b, session 44).

Each case runs a caller of its own (`python`), whose forkserver preloads nothing of the app
(its start is what the other tests pay for); the forkserver and children are real processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


STOPPED = """
import os, signal, sys, time
from pathlib import Path
from tests import forked
forked.PRELOAD = []
pid_file = Path("pid")


def sleeper():
    pid_file.write_text(str(os.getpid()))
    time.sleep(300)


def stop_once_started(*args):
    if pid_file.exists() and pid_file.read_text():
        raise KeyboardInterrupt  # as ^C in the wait
    signal.setitimer(signal.ITIMER_REAL, 0.2)


if __name__ == "__main__":
    signal.signal(signal.SIGALRM, stop_once_started)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        forked.run_forked(sleeper, cwd=".", env=dict(os.environ), timeout=100)
        sys.exit("the child ended by itself: the wait was not stopped")
    except KeyboardInterrupt:
        pass
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def test_a_child_is_killed_when_the_wait_for_it_stops(tmp_path) -> None:
    # a caller stopped while its child ran (^C, an exception in the wait) left the child
    # running to its end, an orphan (subprocess.run kills its child then)
    (tmp_path / "stopped.py").write_text(STOPPED)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "stopped.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"child {pid} still ran 60 s after the wait for it stopped"


HANGS = """
import os, time
parent, deadline = os.getppid(), time.monotonic() + 300
while os.getppid() == parent and time.monotonic() < deadline:  # until its caller is gone
    time.sleep(0.1)
"""

CALLER = """
import os, sys, time
from tests import forked
forked.PRELOAD = ["hangs_at_import"]
start = time.monotonic()
try:
    forked.run_forked(os.getpid, cwd=".", env=dict(os.environ), timeout=5)
except RuntimeError as exc:
    print(f"{exc} after {time.monotonic() - start:.0f} s")
"""


def test_a_forkserver_hung_in_its_imports_ends_the_wait(tmp_path) -> None:
    # the forkserver makes the imports a child made under the child's deadline; its wait
    # for a child's pid had none (a hung import: a test that never ended)
    (tmp_path / "hangs_at_import.py").write_text(HANGS)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    try:
        done = subprocess.run([sys.executable, "-c", CALLER], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("run_forked still waited for the hung forkserver at 120 s") from exc
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("the forkserver forked no child within 5 s"), done.stdout
