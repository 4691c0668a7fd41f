"""Writing one page or image file so that a reader, a killed render or a second render
running at the same time never leaves or sees half of it; and the temporary files a killed
render left, which the next render's writes remove (`sweep`) and readers skip (`is_temp`)."""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import time
from pathlib import Path

from dlcore.processes import pid_alive
from dlcore.serialization.files import naming

logger = logging.getLogger(__name__)

# `.<page>.<pid>-<8 hex>.tmp`; `.<page>.tmp` is the one name of before session 47
_TEMP = re.compile(r"\..+\.(?:html|svg)(?:\.(?P<pid>\d+)-[0-9a-f]{8})?\.tmp")
STEM_ROOM = 200  # of a page's stem in its temporary name: the name stays under 255 bytes
DEAD_AFTER_S = 60.0  # a temporary file of a dead pid this old is a killed render's
STALE_AFTER_S = 3600.0  # any temporary file this old is (a pid reused, another host's render)
# folder -> when this process last swept it (time.monotonic()): a sweep per write scanned
# the backtests' folder once per page, 3 ms a page at 1,000 pages (4.4 s vs 1.4 s to write them)
_swept: dict[Path, float] = {}


def write_page(path: Path, text: str) -> Path:
    """`text` as `path` (UTF-8), replaced in one rename; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path.parent)
    # a name of its own: two renders at once (`score` re-rendering beside `dashboards`)
    # shared `.<page>.tmp`, so one published the other's half-written page or failed with
    # FileNotFoundError; the mode stays the umask's, as the page's was. The stem is cut:
    # a backtest's 230-character name made a temporary name over 255 bytes (ENAMETOOLONG)
    name = f"{os.fsdecode(os.fsencode(path.stem)[:STEM_ROOM])}{path.suffix}"
    tmp = path.with_name(f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    with naming(path):  # a full disk's error named no file ("No space left on device")
        try:
            # a lone surrogate (a report's "\ud800", valid JSON) has no UTF-8: it was a
            # UnicodeEncodeError that skipped the run's pages whole; now a '?'
            tmp.write_text(text, encoding="utf-8", errors="replace")
            tmp.replace(path)  # a reader never sees half a page
        except BaseException:  # a full disk, Ctrl-C: the part page held the space for good
            tmp.unlink(missing_ok=True)
            raise
    return path


def is_temp(name: str) -> bool:
    """Whether a file name is one of write_page's temporary files (not a page)."""
    return _TEMP.fullmatch(name) is not None


def sweep(folder: Path) -> list[Path]:
    """Remove the temporary files a killed render left in `folder`; returns them. One is
    left while its writer may still run: younger than DEAD_AFTER_S, or of a live pid on
    this host and younger than STALE_AFTER_S (a render on another host writing to a shared
    folder has a pid unknown here; writing one page takes well under a second). A folder
    is swept at most once a minute by a process: a scan of its names, a stat only of the
    temporary ones."""
    now = time.monotonic()
    if now < _swept.get(folder, -math.inf) + DEAD_AFTER_S:
        return []
    _swept[folder] = now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError as exc:  # tidying must not cost the page (a folder not listable)
        logger.debug("dashboards: %s not swept: %s", folder, exc)
        return []
    for entry in entries:
        match = _TEMP.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
            if age > STALE_AFTER_S or (age > DEAD_AFTER_S and not _alive(match["pid"])):
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
        except OSError as exc:  # renamed by its writer meanwhile, another user's file
            logger.debug("dashboards: %s not removed: %s", entry.path, exc)
    return removed


def _alive(pid: str | None) -> bool:
    """Whether process `pid` runs on this host (None: a name of before session 47)."""
    # pid 0 (the regex takes any digits) signalled this process's group: "alive" for an
    # hour (STALE_AFTER_S) instead of a minute; dlcore.processes holds the edge cases
    return pid is not None and pid_alive(int(pid))
