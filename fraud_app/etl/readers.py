"""Long readers of paths.root's tables, and the writers that must not replace a table under
them.

`train`, `tune`, `backtest` and `evaluate` read the feature table for minutes to hours, and
`score` reads the canonical table; `features` replaces the feature table and `etl`
rewrites the canonical table. A writer committing under a reader pulls the files from
under it: the reader fails late (a missing file, after an hour of training) or reads one
window from the old table and the next from the new one. So a reader registers itself,
and a writer refuses (ConcurrentRunError naming the readers) while one is registered.

Owns registering, finding and refusing; does not own what readers read or writers write.
A reader is a file `<paths.root>/.fraud-app.readers/<pid>-<token>.json` ({pid, host,
process_start, started_at, command, table}) on which the reader keeps an exclusive flock
while it reads. The kernel drops a flock when its process ends, however it ends (SIGKILL
included), so a file whose flock a writer can take belongs to a dead reader and is
removed: no stale registration ever blocks a writer. The file is flocked under a
temporary name, then renamed into place, so a writer never sees an unheld registration.

A writer holds the root's RootLock throughout and looks for readers under it; a reader
registers first and then reads the lock: if a writer of its table holds it, the reader
withdraws and is refused naming the writer. One of the two always sees the other, so a
reader never starts inside a writer's run, and other writers (`etl` beside a `train`)
do not hold readers back. Readers do not exclude each other.

Where paths.root is not a local directory, nothing is registered: the writers' RootLock
refuses such a root, so no writer of ours can run there.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import secrets
from pathlib import Path

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.lock import LOCK_NAME, holder_alive, holder_text, owner_info
from fraud_app.interrupts import critical
from fraud_app.spark.arguments import require_config
from fraud_app.uris import local_path

logger = logging.getLogger(__name__)

READERS_DIR = ".fraud-app.readers"
TABLE_NAMES = {"canonical": "the canonical table", "features": "the feature table"}
TABLES = tuple(TABLE_NAMES)
WRITERS = {"features": ("features",), "canonical": ("etl", "labels")}  # RootLock commands


class TableReader:
    """Context manager: `with TableReader(config.paths.root, "train", "features"): ...`
    registers this process as a reader of the feature table until the block ends."""

    def __init__(self, root: str, command: str, table: str) -> None:
        if table not in TABLES:
            raise ValueError(f"table must be one of {TABLES}; received {table!r}")
        self.root = local_path(str(root))
        self.command, self.table = command, table
        self.path: Path | None = None
        self._fd: int | None = None

    def __enter__(self) -> TableReader:
        if self.root is None or not self.root.is_dir():
            return self  # no table of ours there yet (a wrong root fails on its own)
        folder = self.root / READERS_DIR
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        info = {**owner_info(), "command": self.command, "table": self.table}
        temp, path, fd = folder / f".{name}.tmp", folder / f"{name}.json", None
        try:
            with critical():  # a SIGTERM here leaves no registration behind
                for attempt in range(3):  # a finishing reader removes the folder when empty
                    folder.mkdir(exist_ok=True)
                    try:
                        fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                        break
                    except FileNotFoundError:
                        if attempt == 2:
                            raise
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.write(fd, json.dumps(info).encode())
                os.replace(temp, path)  # in place only once held: writers never see it free
                self.path, self._fd = path, fd
        except OSError as exc:  # a read-only root: no writer of ours can replace it either
            if fd is not None and self._fd is None:
                os.close(fd)
                temp.unlink(missing_ok=True)
            logger.info("%s: not registered as a reader of %s: %s", self.command, folder, exc)
            return self
        writer = _writer_holding(self.root, self.table)
        if writer is not None:
            self.__exit__(None, None, None)
            raise ConcurrentRunError(
                f"{self.command} reads {TABLE_NAMES[self.table]}, which another fraud-app run is replacing: "
                f"{writer}. Wait for it to finish, then run {self.command} again."
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is None:
            return
        with critical():
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None
        # nothing left behind by a run that read (or was refused before reading); a reader
        # registering meanwhile holds a file in it (then this fails) or makes it again
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()


def reads(table: str, command: str):
    """Decorator for a function `f(spark, config, ...)` that reads `table` of
    `config.paths.root` for its whole run: it runs as a registered TableReader."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(spark, config, *args, **kwargs):
            require_config(config, fn.__name__)  # a path: 'str' has no attribute 'paths'
            with TableReader(config.paths.driver_root(), command, table):
                return fn(spark, config, *args, **kwargs)

        return inner

    return wrap


def live_readers(root: str, table: str) -> list[dict]:
    """The registrations of live readers of `table` under `root` (oldest first); dead
    readers' files are removed on the way. Call it holding the root's RootLock."""
    path = local_path(str(root))
    folder = path / READERS_DIR if path is not None else None
    if folder is None or not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.glob("*.json")):
        try:
            fd = os.open(entry, os.O_RDONLY)
        except FileNotFoundError:
            continue  # its reader finished meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # held: a live reader
                info = _read(entry)
                if info.get("table", table) == table:
                    found.append(info)
                continue
            logger.warning("removing the registration of a reader that ended: %s", entry)
            entry.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return sorted(found, key=lambda r: str(r.get("started_at", "")))


def refuse_while_read(root: str, writer: str, table: str) -> None:
    """Raise ConcurrentRunError naming the live readers of `table`, if any: `writer` (e.g.
    'features') would replace the table under them."""
    readers = live_readers(root, table)
    if not readers:
        return
    named = "; ".join(holder_text(r) for r in readers)
    raise ConcurrentRunError(
        f"{writer} would replace {TABLE_NAMES[table]} while {len(readers)} run(s) read it: {named}. Wait "
        f"for them to finish, then run {writer} again (a reader's registration ends with its "
        f"process)."
    )


def _writer_holding(root: Path, table: str) -> str | None:
    """Who holds the root's RootLock, when that is a live writer of `table` in another
    process (None otherwise); a lock file that cannot be read counts as a writer."""
    lock = root / LOCK_NAME
    if not lock.exists():
        return None
    holder = _read(lock)
    if not holder:
        return f"an unreadable lock file {lock}" if lock.exists() else None
    pid = holder.get("pid")
    if pid == os.getpid() or holder.get("command") not in WRITERS[table]:
        return None
    if holder_alive(holder) is False:
        return None  # a dead run's lock: the next writer clears it
    return holder_text(holder)


def _read(entry: Path) -> dict:
    try:
        info = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
