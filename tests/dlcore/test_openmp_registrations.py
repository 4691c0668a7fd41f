"""MKL's OpenMP runtime registers every process that loads it in /dev/shm
(`__KMP_REGISTERED_LIB_<pid>_<uid>`) and removes the file at a normal exit; Spark kills its
Python workers, so each session left one file per worker, forever. Loading the MKL
backend removes this user's files of processes that are gone, and only those. Real
processes for the pids; a folder of the test stands for /dev/shm."""

from __future__ import annotations

import os
import subprocess
import sys

from dlcore.backends.mkl import remove_stale_openmp_registrations


def test_only_this_users_files_of_dead_processes_are_removed(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(gone.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    uid = os.getuid()
    try:
        names = {
            "dead": f"__KMP_REGISTERED_LIB_{dead}_{uid}",
            "dead_old_format": f"__KMP_REGISTERED_LIB_{dead}",
            "live": f"__KMP_REGISTERED_LIB_{live.pid}_{uid}",
            "other_user": f"__KMP_REGISTERED_LIB_{dead}_{uid + 1}",
            "not_ours": "__KMP_REGISTERED_LIB_x_1",
            "unrelated": f"sem.{dead}",
        }
        for name in names.values():
            (tmp_path / name).write_text("0x7f-libiomp5.so")
        assert remove_stale_openmp_registrations(str(tmp_path)) == 2
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {names[k] for k in ("live", "other_user", "not_ours", "unrelated")}
    finally:
        live.kill()
        live.wait()
    assert remove_stale_openmp_registrations(str(tmp_path / "absent")) == 0
