"""One writer per output root: a lock file `<paths.root>/.fraud-app.lock`.

Owns taking, refusing and releasing the lock, and the liveness rule of every record that
names a process (this lock, the per-run-name and scoring locks, the commit markers of
fraud_app.etl.partition_swap, the readers' registrations, the MLflow runs' owner tag);
does not own what the holder writes. The file holds JSON {pid, host, process_start,
pid_ns, machine_id, command, started_at} (`owner_info`).

Liveness (`liveness`): a holder is dead only when it is PROVABLY this host's and gone:
the same hostname, the same boot (the boot id in `process_start`), the same PID namespace
(`pid_ns`: a container has its own pids; containers sharing a hostname with
`--network host`, a fixed `hostname:` or hostNetwork read each other's pids as their own),
and its pid gone or now a process started at another time (the pid reused). A holder is
alive when that pid still runs with the recorded start. Everything else cannot be told
here and counts as alive: another hostname, another boot id under this hostname (another
machine of that name), another PID namespace, a record without a start time (another OS,
a release before session 38) or without `pid_ns` (before session 40), a Linux system
without /proc, or without /proc/self/ns/pid (an unknown namespace on both sides was read as the
same one before review40b). The one staleness rule beyond that: a holder of this hostname and this machine
(the same /etc/machine-id) recorded under another boot id ran before this machine's last
reboot, and is dead. From the machine's initial PID namespace (whose /proc lists every
process of the kernel, each with its pid in its own namespace) a record of this boot whose
pid no process has is dead in any namespace (`runs_nowhere`, session 41): a record of
sessions 38-39 (no `pid_ns`) was refused once after the upgrade though its process was gone.
On macOS and the BSDs (no /proc, no PID namespaces) a holder of
this hostname that recorded neither is dead when its pid is gone (the pid alone decides:
a laptop's killed run frees its lock). Before session 40 another PID namespace's live holder, and another
machine's of the same hostname, was read as dead and its lock taken over.

A stale lock is taken over with a warning; one whose holder lives, or cannot be told, is
refused with ConcurrentRunError naming the lock file, the holder's host and pid, why this
host cannot tell, and how the operator clears it (check the pid on that host; once sure it
is gone, `fraud-app unlock --force <lock>`, which judges it again, moves it aside and
records who cleared it: pipelines.unlock).

Creation is atomic on a local disk (the file written whole, then hard-linked into place,
which fails if a lock is there: no run ever sees an empty or cut lock). A stale lock is
removed only while it still holds the record judged, under a flock of its folder that
every remover takes (`remove_unchanged`): two runs that met one stale lock removed it one
after the other, the second removing the first's live lock (review41a). Re-entrant within
the thread that holds it, so a workflow that runs several steps can hold it around all of
them; another thread of the same process is refused as another process is (session 48: the
depth was counted per process, so two threads' runs on one root both went ahead).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sys
import threading
from pathlib import Path

from dlcore.processes import is_pid, pid_alive
from fraud_app import jsonout
from fraud_app.errors import ConcurrentRunError, EnvironmentSetupError
from fraud_app.etl.lock_remove import REMOVE_WAIT_S as REMOVE_WAIT_S
from fraud_app.etl.lock_remove import remove_unchanged
from fraud_app.etl.lock_text import check_hint, not_a_lock
from fraud_app.interrupts import critical
from fraud_app.uris import local_path

# REMOVE_WAIT_S and remove_unchanged (a stale lock removed under its folder's flock) live
# in fraud_app.etl.lock_remove since the session 43 review; imported here by their old name

logger = logging.getLogger(__name__)

LOCK_NAME = ".fraud-app.lock"
PLATFORM = sys.platform  # liveness: "linux" has /proc and PID namespaces
# lock path -> [owning thread, nesting depth] in this process. Re-entrant within the thread
# that took it (a workflow holds the root lock around its steps, which take it again); a
# second thread of the process is refused as a second process is: the depth counted per
# process let a notebook's thread pool (or any two threads) run `etl` and `features` on
# one paths.root at once, each writing the other's staging and tables.
_HELD: dict[str, list] = {}
_HELD_GUARD = threading.Lock()


def _proc_text(path: str | Path) -> str:
    """A /proc file's text. Its bytes are the kernel's (a process name, a mount path: any
    bytes), not the locale's: read as UTF-8, a byte that is not read as U+FFFD. With the
    locale's codec (ASCII under LANG=C) a process named `café` raised UnicodeDecodeError,
    which is not the OSError the callers expect."""
    return Path(path).read_text(encoding="utf-8", errors="replace")


def process_start(pid: int) -> str | None:
    """When process `pid` of this host started, as a string that changes when the pid is
    reused: the boot id and the start time in clock ticks since boot (Linux /proc); None
    where that cannot be read (another OS, the process gone)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        stat = _proc_text(f"/proc/{pid}/stat")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "(comm)", which may hold spaces
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def pid_namespace() -> str | None:
    """This process's PID namespace ("pid:[4026531836]"; each container has its own), None
    where /proc does not say (another OS)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


MACHINE_ID = Path("/etc/machine-id")


def machine_id() -> str | None:
    """This machine's /etc/machine-id (systemd: unique per installation, kept across
    reboots), None where there is none (many container images, other OSes) or it is not
    text (a damaged file: its UnicodeDecodeError stopped every run, review40b)."""
    try:
        return MACHINE_ID.read_text(encoding="ascii").strip() or None
    except (OSError, ValueError):
        return None


def owner_info() -> dict:
    """Who holds a lock or writes a commit marker: this process, as `liveness` reads it
    back (pid, host, process_start, pid_ns, machine_id) and an operator reads it
    (started_at, UTC)."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "process_start": process_start(pid),
        "pid_ns": pid_namespace(),
        "machine_id": machine_id(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def holder_text(info: dict) -> str:
    """Who a lock or registration (`owner_info` + command) names, for an error line:
    `etl (pid 12 on host h, started 2024-01-01T00:00:00+00:00)`."""
    return (
        f"{info.get('command', '?')} (pid {info.get('pid', '?')} on host "
        f"{info.get('host', '?')}, started {info.get('started_at', '?')})"
    )


def liveness(info: dict) -> tuple[bool | None, str]:
    """(whether the process `info` (`owner_info`) names still runs, why): True / False
    only for a process provably of this host (the module docstring's rule), None when this
    host cannot tell; the reason names what decided."""
    pid, host, start = info.get("pid"), info.get("host"), info.get("process_start")
    if host != socket.gethostname():
        return None, f"it ran on host {host}, not this one ({socket.gethostname()})"
    mine = process_start(os.getpid())
    if mine is None:
        if PLATFORM != "linux" and os.name == "posix" and start is None and not info.get("pid_ns"):
            # macOS, the BSDs: no /proc, no PID namespaces (a container runs in a Linux VM
            # under another hostname): the pid alone decides, as before session 40 (a
            # laptop's killed run needed its lock deleted by hand after it)
            return _pid_liveness(pid, None)
        return None, "this system shows no process start times (/proc)"
    if not isinstance(start, str) or ":" not in start:
        return None, "it recorded no process start time (another OS or an older release)"
    boot = start.rsplit(":", 1)[0]
    if boot != mine.rsplit(":", 1)[0]:
        if info.get("machine_id") and info.get("machine_id") == machine_id():
            return False, "it ran on this machine before its last reboot"
        return None, f"it ran under another boot id ({boot}): another machine named {host}"
    here = pid_namespace()
    if here is None:  # both unknown is not "the same": a container's pids may be read here
        return None, "this system does not show PID namespaces (/proc/self/ns/pid)"
    if info.get("pid_ns") == here:
        return _pid_liveness(pid, start)
    if runs_nowhere(pid):  # this boot's record, and no namespace of this machine has its pid
        return False, (f"pid {pid} runs in no PID namespace of this machine (seen from its "
                       "initial PID namespace)")  # fmt: skip
    if not info.get("pid_ns"):
        return None, ("it recorded no PID namespace (a fraud-app release before session 40, "
                      "or a system without /proc/self/ns/pid), so it may have run in another "
                      "PID namespace")  # fmt: skip
    return None, (f"it ran in another PID namespace ({info.get('pid_ns')}; this process: "
                  f"{here}): a container's pids")  # fmt: skip


# the initial PID namespace's inode: a kernel constant (PROC_PID_INIT_INO, include/linux/
# proc_ns.h); a module constant so that a test can play a container
INIT_PID_NS = "pid:[4026531836]"


def runs_nowhere(pid: object) -> bool:
    """True only when provably no process of this machine has `pid` in its own PID
    namespace: this process is in the initial PID namespace, whose /proc lists every
    process of the kernel (the holder's too, whatever namespace it ran in), nothing hides
    processes from it (`hidepid`), and no process's innermost pid (the last of `NSpid` in
    /proc/<p>/status: the pid a process records as its own) is `pid`. A record of this boot
    without `pid_ns` (sessions 38-39) was refused after the upgrade though its pid was gone
    (docs/PROBES.md, session 41); False everywhere this cannot be proven (a container, an
    old kernel without NSpid, an unreadable entry)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if pid_namespace() != INIT_PID_NS or not _full_proc():
        return False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = _proc_text(entry / "status")
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        except OSError:
            return False
        nspid = next((line.split()[1:] for line in status.splitlines()
                      if line.startswith("NSpid:")), None)  # fmt: skip
        if not nspid:
            return False  # a kernel before 4.1: innermost pids unknown
        if nspid[-1] == str(pid):
            return False
    return True


def _full_proc() -> bool:
    """Whether /proc is this process's namespace's and shows every process (no hidepid)."""
    try:
        if Path("/proc/self").resolve().name != str(os.getpid()):
            return False
        mounts = _proc_text("/proc/self/mountinfo").splitlines()
    except OSError:
        return False
    proc = [line for line in mounts if line.split(" - ", 1)[-1].startswith("proc ")
            and line.split()[4] == "/proc"]  # fmt: skip
    return bool(proc) and all("hidepid" not in line and "subset" not in line for line in proc)


def _pid_liveness(pid: object, start: str | None) -> tuple[bool, str]:
    """Whether `pid` of this host and PID namespace still runs as the process started at
    `start` (None: the pid alone decides, a system without start times)."""
    # is_pid: a pid past pid_t (2**31 and more) raised OverflowError out of os.kill
    if not is_pid(pid):
        return False, f"its pid {pid!r} is not a process id (a damaged record)"
    if not pid_alive(pid):  # another user's process (EPERM) is alive
        return False, f"pid {pid} is gone"
    now = process_start(pid) if start is not None else None
    if now is not None and now != start:
        return False, f"pid {pid} now belongs to a process started at another time (reused)"
    return True, f"pid {pid} still runs"


def _check_hint(info: dict) -> str:
    return check_hint(info, socket.gethostname(), pid_namespace(), INIT_PID_NS)


def holder_alive(info: dict) -> bool | None:
    """`liveness(info)` without its reason."""
    return liveness(info)[0]


def _local_path(root: str, setting: str = "paths.root") -> Path:
    """The lock's directory: a plain path or a file: URI; any other scheme (hdfs:/x as
    much as hdfs://nn/x) is refused (fraud_app.uris)."""
    path = local_path(root)
    if path is None:
        where = (
            "paths.root (and point etl.output / etl.quarantine at remote storage)"
            if setting == "paths.root"
            else setting
        )
        raise EnvironmentSetupError(
            f"{setting} {root}: the run lock needs a local directory; run with a local {where}."
        )
    return path


class RootLock:
    """Context manager: `with RootLock(config.paths.root, "etl"): ...`."""

    def __init__(
        self, root: str, command: str, name: str = LOCK_NAME, setting: str = "paths.root"
    ) -> None:
        # name: another lock file in the same directory (one per training run name);
        # setting: the configuration key the directory came from, named in errors
        self.path = _local_path(str(root), setting) / name
        self.command = command
        self.setting = setting

    def __enter__(self) -> RootLock:
        key = str(self.path.resolve())
        if self._reenter(key):
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EnvironmentSetupError(
                f"cannot create the output root {self.path.parent}: {exc.strerror}. "
                f"Set {self.setting} to a writable directory."
            ) from exc
        for _ in range(3):  # a stale lock is removed, then creation is retried
            created = False
            try:
                # a SIGTERM between creating the file and returning (no __exit__ then) left
                # the lock behind: it waits for the file to be written, then the file goes
                with critical():
                    created = self._create()
            except BaseException:
                if created:
                    self.path.unlink(missing_ok=True)
                raise
            if created:
                with _HELD_GUARD:
                    _HELD[key] = [threading.current_thread(), 1]
                return self
            self._refuse_or_clear()
        raise ConcurrentRunError(
            f"could not take the lock {self.path}; another run keeps taking it"
        )

    def __exit__(self, *exc_info: object) -> None:
        key = str(self.path.resolve())
        with _HELD_GUARD:
            held = _HELD[key]
            held[1] -= 1
            last = held[1] == 0
            if last:
                del _HELD[key]
        if last:
            self.path.unlink(missing_ok=True)

    def _reenter(self, key: str) -> bool:
        """True when this thread holds the lock already (one more level); refuses when
        another thread of this process holds it; False when no thread here holds it."""
        me = threading.current_thread()
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is None:
                return False
            if held[0] is me:
                held[1] += 1
                return True
            owner = held[0].name
        raise ConcurrentRunError(
            f"another thread of this process (thread {owner!r}; this is {me.name!r}) "
            f"holds the run lock {self.path} ({self.command} was refused): two runs on "
            f"{self.path.parent} at once write each other's staging and tables. Run them "
            "one after the other, or give each its own root."
        )

    def _create(self) -> bool:
        """Take the lock: its file written whole beside it, then linked into place (fails
        if one is there). It was created empty, then written: a run killed in between, or a
        write that failed on a full disk, left an empty or cut lock file that refused every
        later run as "an unreadable lock file" until deleted by hand (docs/PROBES.md,
        session 40)."""
        info = {**owner_info(), "command": self.command}
        try:
            return jsonout.write_new(self.path, json.dumps(info))
        except OSError as exc:
            raise EnvironmentSetupError(
                f"cannot write the run lock {self.path}: {exc.strerror}. "
                f"Set {self.setting} to a writable directory."
            ) from exc

    def _way_out(self, what: str) -> str:
        return (f"clear it with `fraud-app unlock --force {self.path}` (it moves {what} aside "
                f"and records who cleared it; or delete {what})")  # fmt: skip

    def _refuse_or_clear(self) -> None:
        try:  # bytes that are no UTF-8 (a damaged file) stopped the run with a traceback
            raw = self.path.read_bytes()
        except FileNotFoundError:
            if self.path.is_symlink():  # was: "another run keeps taking it", three times
                raise ConcurrentRunError(not_a_lock(
                    self.path, f"a symbolic link to {os.readlink(self.path)}, which is not "
                    "there", self._way_out("the link"))) from None  # fmt: skip
            return  # released meanwhile: retry
        except IsADirectoryError:  # was: "Is a directory; check that the path exists ..."
            raise ConcurrentRunError(
                not_a_lock(self.path, "a directory", self._way_out("the directory"))
            ) from None
        text = raw.decode("utf-8", errors="replace")  # as remove_unchanged reads it
        try:
            holder = json.loads(text)
            int(holder["pid"]), str(holder["host"])
        except (ValueError, KeyError, TypeError):
            what = f"{len(raw)} bytes" if text.strip() else "empty"
            raise ConcurrentRunError(not_a_lock(
                self.path, f"not a lock record ({what})", self._way_out("the file")
            )) from None  # fmt: skip
        alive, reason = liveness(holder)
        if alive is False:
            if remove_unchanged(self.path, text):
                logger.warning("removed the stale run lock %s of a dead process (%s): %s",
                               self.path, reason, text)  # fmt: skip
            return  # taken over by another run meanwhile: judged again (its holder lives)
        who = holder_text(holder)
        if alive:
            raise ConcurrentRunError(
                f"another fraud-app run is writing to {self.path.parent}: {who}. Wait for it "
                f"to finish, or delete {self.path} if that run no longer exists "
                "(`fraud-app unlock` lists the locks and their holders)."
            )
        raise ConcurrentRunError(
            f"another fraud-app run is writing to {self.path.parent}: {who} holds the lock "
            f"{self.path}, and this host cannot tell whether it still runs ({reason}). Wait "
            f"for it to finish; if it no longer runs ({_check_hint(holder)}), "
            f"clear it with `fraud-app unlock --force {self.path}` (it checks again and "
            f"records who cleared it; or delete the file) and run this command again."
        )
