"""Removing a stale lock file of fraud_app.etl.lock (RootLock's takeover, `fraud-app unlock
--force`): only while it still holds the record its caller judged, under an exclusive flock
of its folder that every remover takes, waited for REMOVE_WAIT_S at most. Split from
fraud_app.etl.lock (session 43 review), which re-exports both names."""

from __future__ import annotations

import os
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock (the lock's other checks stand)
    fcntl = None  # type: ignore[assignment]

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.lock_text import folder_held

__all__ = ["REMOVE_WAIT_S", "remove_unchanged"]


def remove_unchanged(path: Path, judged: str, aside: Path | None = None) -> bool:
    """Remove the lock file `path` (or move it to `aside`) only if it still holds the
    record `judged`, which its caller judged stale; whether it did. Every remover holds
    an exclusive flock on the lock's folder while it re-reads and removes, so no two
    remove one after the other: a run that met the same stale lock had removed it and
    taken the lock meanwhile, and this one then removed that LIVE run's lock (it unlinked
    whatever was at the path) and took the lock too (review41a). Taking the lock needs no
    flock: creation fails while any file is there."""
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a folder this user may write but not read: removed as before
        fd = None
    try:
        if fcntl is not None and fd is not None:
            _flock_folder(fd, path)  # held for a read and a rename or unlink
        try:
            if path.read_text(encoding="utf-8", errors="replace") != judged:
                return False
            if aside is None:
                path.unlink()
            else:
                os.rename(path, aside)
        except FileNotFoundError:  # released meanwhile
            return False
        return True
    finally:
        if fd is not None:
            os.close(fd)  # releases the flock


REMOVE_WAIT_S = 10.0  # a remover holds its folder's flock for milliseconds


def _flock_folder(fd: int, path: Path) -> None:
    """The folder's exclusive flock, waited for REMOVE_WAIT_S at most: a cron wrapper
    `flock <paths.root> fraud-app etl` holds it for the whole run, and its run, meeting a
    stale lock, waited for it for ever (session 43). No flock there (ENOLCK): as before."""
    deadline = time.monotonic() + REMOVE_WAIT_S
    while True:
        try:
            return fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ConcurrentRunError(folder_held(path, REMOVE_WAIT_S)) from None
            time.sleep(0.05)
        except OSError:
            return None
