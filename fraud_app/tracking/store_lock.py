"""Cross-process locks on an embedded (sqlite) tracking store.

Two `fraud-app` processes that open a NEW sqlite store at once both run MLflow's schema
migrations on it: each fails ('table ... already exists', 'duplicate column name') and the
store is left half-migrated, refusing every later process too. And two runs whose
promotion gates overlap each compare against the champion they saw, so the champion alias
ends on whichever registers last. `store_lock(uri, ...)` serialises such sections between
processes on one machine with an advisory lock (fcntl.flock) on `<db>.lock`, next to the
database; it is released when its holder exits, even when killed.

A tracking server (http://, https://) or a database server orders concurrent requests
itself; no lock is taken for it (and the gate's re-check narrows its race to the
registration request itself). Windows has no fcntl: no lock there either.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from fraud_app.errors import TrackingError
from fraud_app.uris import scheme

logger = logging.getLogger(__name__)
POLL_S = 0.05


def sqlite_database(uri: str) -> Path | None:
    """The database file of a sqlite store URI, as SQLAlchemy reads it: `sqlite:///rel.db`
    (relative), `sqlite:////abs.db`, with a driver (`sqlite+pysqlite:///...`), a query
    string (`?timeout=5`) not part of the file, percent escapes decoded (`%20` is a space,
    `%25` a `%`, as SQLAlchemy decodes them). None for any other
    store, an in-memory database (`sqlite://`, `sqlite:///:memory:`) and a sqlite URI
    without the `///` that SQLAlchemy needs (`sqlite:/x`: no store to lock)."""
    kind = scheme(uri)
    if kind.split("+", 1)[0] != "sqlite":
        return None
    rest = uri[len(kind) + 1 :]
    if not rest.startswith("///"):
        return None
    db = urllib.parse.unquote(rest[3:].split("?", 1)[0])
    return Path(db) if db and db != ":memory:" else None


def writable_here(db: Path) -> bool:
    """Whether this process can write the sqlite store `db`: the file and its folder (sqlite
    writes its journal beside the database). False on a scoring machine's read-only mount,
    which is read, never rewritten or logged to."""
    return os.access(db, os.W_OK) and os.access(db.parent, os.W_OK)


def lock_path(uri: str) -> Path | None:
    """`<db>.lock` of a sqlite store URI; None for any other store (see sqlite_database)."""
    db = sqlite_database(uri)
    return None if db is None else db.with_name(db.name + ".lock")


class _Held:
    """This process's hold on one lock file: a thread lock (re-entrant: the gate opens the
    store again while it holds the lock) and the flock'ed descriptor, taken once."""

    def __init__(self) -> None:
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None


_HELD: dict[Path, _Held] = {}
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def store_lock(uri: str, timeout_s: float, what: str) -> Iterator[None]:
    """Hold the store's lock while the block runs (`what`: the section, for the messages);
    TrackingError when another process (or thread) holds it for longer than `timeout_s`.
    Re-entrant within a thread."""
    path = lock_path(uri)
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    if path is None or fcntl is None:
        yield
        return
    with _HELD_GUARD:
        held = _HELD.setdefault(path, _Held())
    deadline = time.monotonic() + timeout_s
    if not held.thread_lock.acquire(timeout=timeout_s):
        raise _timeout(path, timeout_s, what, "another thread of this process")
    try:
        if held.depth == 0 and (fd := _open_lock_file(path)) is not None:
            try:
                _acquire(fcntl, fd, path, deadline, timeout_s, what)
            except BaseException:
                os.close(fd)
                raise
            held.fd = fd
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0 and held.fd is not None:
                fcntl.flock(held.fd, fcntl.LOCK_UN)
                os.close(held.fd)
                held.fd = None
    finally:
        held.thread_lock.release()


def _open_lock_file(path: Path) -> int | None:
    """The lock file's descriptor (created when missing). A store on a read-only file
    system (a scoring machine's read-only mount of the root) is read without writing:
    an existing lock file is opened for reading (flock needs no write access), and where
    none exists and none can be made, no process writes the store through this mount, so
    None: no lock (the store lock refused every command there)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            if exc.errno != errno.EROFS:
                raise exc from None
            logger.debug("tracking: %s is on a read-only file system: no store lock", path)
            return None


def _timeout(path: Path, timeout_s: float, what: str, holder: str) -> TrackingError:
    return TrackingError(
        f"waited {timeout_s:g}s for the tracking store lock {path} ({what}): {holder} holds "
        "it. Let it finish, or raise tracking.flush_timeout_s"
    )


def _acquire(fcntl, fd: int, path: Path, deadline: float, timeout_s: float, what: str) -> None:
    t0 = time.monotonic()
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _timeout(
                    path, timeout_s, what, "another fraud-app process on this machine"
                ) from None
            if not waited:
                logger.info("tracking: waiting for %s (%s; another process holds it)", path, what)
                waited = True
            time.sleep(POLL_S)
            continue
        if waited:
            logger.info("tracking: got %s after %.1fs", path, time.monotonic() - t0)
        return
