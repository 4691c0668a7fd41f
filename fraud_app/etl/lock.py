"""One writer per output root: a lock file `<paths.root>/.fraud-app.lock`.

Owns taking, refusing and releasing the lock; does not own what the holder writes.
The file holds JSON {pid, host, process_start, command, started_at} (`owner_info`). A
lock whose process no longer runs on this host (`process_alive`: its pid gone, or reused
by a process started at another time) is stale (a killed run) and is taken over with a
warning; a lock held by a live process, or by another host (whose processes cannot be
checked), is refused with ConcurrentRunError naming the holder and how to clear it.

Creation is atomic on a local disk (the file written whole, then hard-linked into place,
which fails if a lock is there: no run ever sees an empty or cut lock). Re-entrant within a process,
so a workflow that runs several steps can hold it around all of them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from pathlib import Path

from fraud_app import jsonout
from fraud_app.errors import ConcurrentRunError, EnvironmentSetupError
from fraud_app.interrupts import critical
from fraud_app.uris import local_path

logger = logging.getLogger(__name__)

LOCK_NAME = ".fraud-app.lock"
_HELD: dict[str, int] = {}  # lock path -> nesting depth, this process


def process_start(pid: int) -> str | None:
    """When process `pid` of this host started, as a string that changes when the pid is
    reused: the boot id and the start time in clock ticks since boot (Linux /proc); None
    where that cannot be read (another OS, the process gone)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "(comm)", which may hold spaces
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def owner_info() -> dict:
    """Who holds a lock or writes a commit marker: this process, as `process_alive` reads it
    back (pid, host, process_start) and an operator reads it (started_at, UTC)."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "process_start": process_start(pid),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def holder_text(info: dict) -> str:
    """Who a lock or registration (`owner_info` + command) names, for an error line:
    `etl (pid 12 on host h, started 2024-01-01T00:00:00+00:00)`."""
    return (
        f"{info.get('command', '?')} (pid {info.get('pid', '?')} on host "
        f"{info.get('host', '?')}, started {info.get('started_at', '?')})"
    )


def process_alive(pid: object, host: object, start: object = None) -> bool | None:
    """Whether the process a lock or marker names (`owner_info`) still runs.

    True / False for a process of this host: False when `pid` is gone, or now belongs to a
    process started at another time than `start` (the pid was reused; `start` None: the pid
    alone decides). None for a process of another host (a cluster's other driver), whose
    processes this host cannot check: the caller must not guess (it names the host and
    what the operator can do there). A pid that is not a positive int: False on this host.
    """
    if host != socket.gethostname():
        return None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    return start is None or process_start(pid) in (None, start)


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
        if _HELD.get(key):
            _HELD[key] += 1
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
                _HELD[key] = 1
                return self
            self._refuse_or_clear()
        raise ConcurrentRunError(
            f"could not take the lock {self.path}; another run keeps taking it"
        )

    def __exit__(self, *exc_info: object) -> None:
        key = str(self.path.resolve())
        _HELD[key] -= 1
        if _HELD[key] == 0:
            del _HELD[key]
            self.path.unlink(missing_ok=True)

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

    def _refuse_or_clear(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return  # released meanwhile: retry
        try:
            holder = json.loads(text)
            pid, host = int(holder["pid"]), str(holder["host"])
        except (ValueError, KeyError, TypeError):
            holder, pid, host = {}, -1, ""
        if process_alive(pid, host, holder.get("process_start")) is False:
            logger.warning("removing the stale run lock %s of a dead process: %s", self.path, text)
            self.path.unlink(missing_ok=True)
            return
        why = holder_text(holder) if holder else "an unreadable lock file"
        raise ConcurrentRunError(
            f"another fraud-app run is writing to {self.path.parent}: {why}. Wait for it to "
            f"finish, or delete {self.path} if that run no longer exists."
        )
