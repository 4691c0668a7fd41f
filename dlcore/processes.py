"""Whether a process id names a running process of this host: the one check behind the
clean-ups that remove what a killed process left (dlcore.backends.mkl's OpenMP
registrations, dashboards.pagefile's temporary pages) and the lock records' liveness
(fraud_app.etl.lock, pipelines.unlock.inventory).

The number comes from a file name or a record another process wrote, so it may be any
integer: kill(2) reads 0 as this process's group, -1 as every process and -n as group n,
so `os.kill(0, 0)` succeeds whatever runs, and a number beyond pid_t (2**31 and more)
raises OverflowError, not an OSError. `is_pid` says which numbers can be a process id;
`pid_alive` answers False for the others rather than signal a group or raise.
"""

from __future__ import annotations

import os

# pid_t is a signed 32-bit integer on Linux and macOS; the kernel's pid_max is lower
PID_T_MAX = 2**31 - 1


def is_pid(value: object) -> bool:
    """Whether `value` is an int a process can have as its id: 1..2**31-1 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= PID_T_MAX


def pid_alive(pid: object) -> bool:
    """Whether a process `pid` exists in this PID namespace now (it may be another
    process than the one that recorded it: a pid is reused). A process of another user
    (EPERM) is alive; anything `is_pid` refuses (0, negative, too large, not an int) is
    not, and no signal goes to a process group for it. Another error of kill(2) counts
    as alive: the callers remove what a dead process left, and keeping a file is the
    safe mistake."""
    if not is_pid(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process; anything else: keep
        return True
    return True
