"""Running out of a machine's resources: a full file system (or quota), a file past the
process's size limit, too many open files.

Owns: recognising such a failure wherever it surfaces (a Python `OSError` with its errno,
an error that wraps one, e.g. the tracking worker's `TrackingError`; the text of a Spark /
Hadoop Java exception that reached Python as a `Py4JJavaError`; SQLite's "database or disk
is full"), the path that could not be written when the failure names one, the setting
that chose that path (`paths.canonical`, `spark.local.dir`, ...), and the one line the CLI
prints for it (`message`). Does not own cleanup: every writer stages its output and swaps
it in whole, so a failed write leaves the published outputs as they were
(docs/PROBES.md, "Session 31 probes (helper probe31b)").
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dlcore.errors import DlcoreError
from fraud_app.errors import FraudAppError, exception_chain

SPACE, QUOTA, FILE_SIZE, OPEN_FILES = "space", "quota", "file_size", "open_files"
_ERRNOS = {
    errno.ENOSPC: SPACE,
    errno.EDQUOT: QUOTA,
    errno.EFBIG: FILE_SIZE,
    errno.EMFILE: OPEN_FILES,
    errno.ENFILE: OPEN_FILES,
}
# the strerror texts as Java and SQLite print them (errno names no Java exception)
_TEXTS = (
    ("No space left on device", SPACE),
    ("database or disk is full", SPACE),
    ("Disk quota exceeded", QUOTA),
    ("File too large", FILE_SIZE),
    ("Too many open files", OPEN_FILES),
)
# where a Java text names the file: Spark's TASK_WRITE_FAILED, a FileNotFoundException
# ("/x/y (Too many open files)"), the shuffle writer's "output stream to file /x/y, ..."
_JAVA_PATHS = (
    re.compile(r"writing rows to (?:file:)?(?P<path>/\S+?)\.?(?:\s|$)"),
    re.compile(r"(?:file:)?(?P<path>/[^\s(]+) \((?:No space|Too many open|Disk quota|File too)"),
    re.compile(r"output stream to file (?P<path>/[^\s,]+)"),
)
_SHUFFLE = re.compile(r"ShuffleWriter|DiskBlockObjectWriter|temp_shuffle|UnsafeExternalSorter")


# an MLflow logged model's artifact folder (`<artifact root>/models/m-<id>/...`)
_LOGGED_MODEL = re.compile(r"(?P<dir>.*/models/m-[0-9a-f]{8,})/")
# where a setting left unset puts its files (Spark's scratch: java.io.tmpdir)
_DEFAULT_PLACES = {"spark.local.dir": "/tmp"}


@dataclass(frozen=True)
class Exhaustion:
    """What ran out (`kind`: SPACE, QUOTA, FILE_SIZE, OPEN_FILES) and, when the failure
    names it, the path that could not be written or opened."""

    kind: str
    path: str | None = None
    # without a path: the setting whose place it was (Spark's shuffle files: spark.local.dir;
    # SQLite's "database or disk is full": tracking.uri)
    setting: str | None = None


def find(exc: BaseException | None) -> Exhaustion | None:
    """The resource `exc` (or an exception it was raised from or while handling) ran out
    of; None when it is another failure. An OSError in the chain comes first: it names the
    file (a wrapping error's text, e.g. `tracking: log_model failed: [Errno 28] No space
    left on device: 'src' -> 'dst'`, does not say which path was the one written)."""
    chain = exception_chain(exc)
    for one in chain:
        if isinstance(one, OSError) and one.errno in _ERRNOS:
            # a copy names its destination second (shutil: src -> dst): that one was written
            where = one.filename2 if one.filename2 is not None else one.filename
            return Exhaustion(_ERRNOS[one.errno], None if where is None else os.fsdecode(where))
    # not our own errors' text: it may quote the data (a value such as "File too large");
    # what they wrap (SQLite's error under a TrackingError) is read
    texts = (str(one) for one in chain if not isinstance(one, (FraudAppError, DlcoreError)))
    return next((found for text in texts if (found := _from_text(text)) is not None), None)


def _from_text(text: str) -> Exhaustion | None:
    """What a Java exception's or SQLite's text says ran out (no errno reaches Python)."""
    kind = next((k for t, k in _TEXTS if t in text), None)
    if kind is None:
        return None
    for pattern in _JAVA_PATHS:
        match = pattern.search(text)
        if match:
            return Exhaustion(kind, match["path"])
    if "database or disk is full" in text:
        return Exhaustion(kind, None, "tracking.uri")
    return Exhaustion(kind, None, "spark.local.dir" if _SHUFFLE.search(text) else None)


def setting_for(path: str, places: Mapping[str, str]) -> str | None:
    """The setting (a key of `places`: setting -> local directory or file) whose place
    holds `path`, the most specific one."""
    target = _absolute(path)
    best: tuple[int, str] | None = None
    for key, place in places.items():
        root = _absolute(place)
        # inside it, or its staged copy beside it (`<table>.tmp-<token>`, etl/fs.StagedDir)
        inside = target == root or target.startswith((root.rstrip("/") + "/", root + ".tmp-"))
        if inside and (best is None or len(root) > best[0]):
            best = (len(root), key)
    return None if best is None else best[1]


def _absolute(path: str) -> str:
    path = path.removeprefix("file://").removeprefix("file:")
    return os.path.abspath(path)


def _free(path: str) -> str:
    """`(the file system at /mnt: 0.4 MiB free now)`, or "" when no part of it exists."""
    p = Path(os.path.realpath(_absolute(path)))  # a symlinked folder: the disk it points to
    while not p.exists() and p != p.parent:
        p = p.parent
    mount = p
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    try:
        free = shutil.disk_usage(p).free
    except OSError:
        return ""
    shown = f"{free / 2**20:.1f} MiB" if free >= 2**20 else f"{free // 1024} KiB"
    return f"; the file system at {mount} has {shown} free now"


def open_files_limit() -> str:
    import resource  # POSIX only, like the limits it reads

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    shown = "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    return shown if hard == soft else f"{shown} (hard limit {hard})"


def message(found: Exhaustion, command: str, places: Mapping[str, str]) -> str:
    """The CLI's one line: what ran out, where, which setting chose that place, what to do."""
    again = f"then run `fraud-app {command}` again"
    if found.kind == OPEN_FILES:
        where = f" (opening {found.path})" if found.path else ""
        return (
            f"too many open files{where}: this process may open at most "
            f"{open_files_limit()} files (`ulimit -n`). Raise the limit (e.g. `ulimit -n "
            f"4096` in the shell that runs fraud-app, LimitNOFILE= for a systemd service), "
            f"{again}; what it had written in part was discarded"
        )
    path, key = _place(found, places)
    what = {
        SPACE: "no space left on device",
        QUOTA: "disk quota exceeded",
        FILE_SIZE: "file too large",
    }[found.kind]
    if path is None:
        where, fix = "", "free space on the disk it writes to"
    else:
        set_ = f" ({key})" if key else ""
        where = f" writing {path}{set_}{_free(path)}"
        fix = f"free space there{f' or set {key} to a larger disk' if key else ''}"
    if found.kind == FILE_SIZE:
        fix = _file_size_fix()
    return f"{what}{where}. {fix[0].upper()}{fix[1:]}, {again}; {_kept(path)}"


def _place(found: Exhaustion, places: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(the path that filled up, the setting that chose it): the failure's path and the
    setting holding it, else the place of the setting the failure named (Spark's order:
    SPARK_LOCAL_DIRS before spark.local.dir), else (None, None)."""
    if found.path is None and found.setting is not None:
        setting = found.setting
        if setting == "spark.local.dir" and "SPARK_LOCAL_DIRS" in places:
            setting = "SPARK_LOCAL_DIRS"  # Spark's own order: the environment's comes first
        path = places.get(setting, _DEFAULT_PLACES.get(setting))
        return path, setting if path is not None else None
    if found.path is not None:
        return found.path, setting_for(found.path, places)
    return None, None


def _file_size_fix() -> str:
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    shown = "unlimited" if limit == resource.RLIM_INFINITY else f"{limit} bytes"
    return (
        f"the file grew past the largest file this process may write ({shown}, "
        "`ulimit -f`) or the file system allows: raise the limit or write elsewhere"
    )


def _kept(path: str | None) -> str:
    """What the failed command left behind."""
    logged = _LOGGED_MODEL.match(path or "")
    if logged:  # MLflow writes a logged model's artifacts in place, not staged
        return (
            f"earlier outputs are unchanged; the unregistered logged model it was writing "
            f"is left in {logged['dir']} (nothing reads it): delete it to get its space back"
        )
    return (
        "what it had written in part was discarded (outputs are staged, then swapped in "
        "whole), earlier outputs are unchanged"
    )
