"""One pid-liveness check (dlcore.processes) behind the four that were written apart
(dashboards.pagefile, dlcore.backends.mkl, fraud_app.etl.lock, pipelines.unlock.inventory),
at the edges where the copies differed: pid 0 and negative numbers are process groups to
kill(2) (`os.kill(0, 0)` succeeds whatever runs), a number past pid_t raised
OverflowError out of three of them, EPERM is a live process. Real processes throughout."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from dashboards.pagefile import sweep
from dlcore.backends.mkl import remove_stale_openmp_registrations
from dlcore.processes import PID_T_MAX, is_pid, pid_alive
from fraud_app.etl.lock import liveness, owner_info, process_start
from pipelines.unlock.inventory import holder_pid_here

TOO_LARGE = [PID_T_MAX + 1, 2**63, 2**64]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ids fixed: `-os.getpid()` named the test by each process's pid, and pytest-xdist stops a run
# whose workers collected different test ids ("Different tests were collected")
@pytest.mark.parametrize(
    "value",
    [0, -1, pytest.param(-os.getpid(), id="minus-own-pid"), *TOO_LARGE, True, "1", 1.0, None],
)
def test_what_no_process_can_have_as_its_id_is_not_alive(value):
    assert not is_pid(value)
    assert pid_alive(value) is False  # no signal to a group, no OverflowError


def test_a_live_a_dead_and_the_largest_pid():
    assert is_pid(PID_T_MAX) and pid_alive(PID_T_MAX) is False  # ESRCH, not an overflow
    assert pid_alive(os.getpid()) is True
    assert pid_alive(_dead_pid()) is False


def test_another_users_process_is_alive():
    """kill(2) says EPERM for a process of another user: it exists. As root every signal
    is allowed, so a child that gave up root asks about pid 1 (init, root's)."""
    code = "from dlcore.processes import pid_alive; print(pid_alive(1))"
    if os.getuid() != 0:
        assert pid_alive(1) is True
        return
    out = subprocess.run(
        [sys.executable, "-c", f"import os; os.setgid(65534); os.setuid(65534); {code}"],
        capture_output=True, text=True, check=True, env={**os.environ},
    )  # fmt: skip
    assert out.stdout.strip() == "True"


def test_an_openmp_registration_with_a_number_past_pid_t_does_not_stop_mkl_loading(tmp_path):
    """`__KMP_REGISTERED_LIB_<digits>_<uid>`: digits past pid_t raised OverflowError out of
    the sweep that loading the MKL backend runs (not an OSError, so nothing caught it)."""
    uid = os.getuid()
    huge = tmp_path / f"__KMP_REGISTERED_LIB_{2**40}_{uid}"
    live = tmp_path / f"__KMP_REGISTERED_LIB_{os.getpid()}_{uid}"
    for path in (huge, live):
        path.write_text("0x7f-libiomp5.so")
    assert remove_stale_openmp_registrations(str(tmp_path)) == 1
    assert not huge.exists() and live.exists()


def test_a_temporary_page_of_pid_0_is_not_kept_as_a_live_writers(tmp_path):
    """pid 0 signalled this process's group, so `.<page>.0-<hex>.tmp` counted as a live
    writer's and stayed an hour (STALE_AFTER_S) instead of going after a minute."""
    paths = [tmp_path / f".index.html.{pid}-0123abcd.tmp" for pid in (0, 2**40)]
    mine = tmp_path / f".other.html.{os.getpid()}-0123abcd.tmp"
    then = time.time() - 120
    for path in (*paths, mine):
        path.write_text("half a page")
        os.utime(path, (then, then))
    assert sorted(sweep(tmp_path)) == sorted(paths)
    assert mine.exists()


@pytest.mark.skipif(process_start(os.getpid()) is None, reason="start times come from /proc")
@pytest.mark.parametrize("pid", TOO_LARGE)
def test_a_lock_record_with_a_pid_past_pid_t_is_a_damaged_record(pid):
    """The ETL lock's liveness raised OverflowError ("signed integer is greater than
    maximum") for such a record of this host; now it reads as pid 0 or -1 did."""
    assert liveness({**owner_info(), "pid": pid}) == (
        False, f"its pid {pid!r} is not a process id (a damaged record)"
    )  # fmt: skip
    assert liveness({**owner_info(), "pid": _dead_pid()})[0] is False
    assert liveness(owner_info()) == (True, f"pid {os.getpid()} still runs")


@pytest.mark.parametrize("pid", [0, -1, *TOO_LARGE, "12", True])
def test_unlocks_hint_names_no_process_for_what_cannot_be_a_pid(pid):
    assert holder_pid_here({"pid": pid}) is None  # OverflowError past pid_t before
    assert holder_pid_here({"pid": os.getpid()}) is True
    assert holder_pid_here({"pid": _dead_pid()}) is False
