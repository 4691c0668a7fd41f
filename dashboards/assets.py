"""The one copy of plotly.js the pages share: `<output>/assets/plotly-<plotly.js version>.min.js`.

Each page (a run's under `<output>/<run>/`, a backtest's under `<output>/backtests/`) loads
it as `../assets/plotly-<version>.min.js`, so pages open from a file with no server and no
network, and a deployment keeps one 4.8 MB bundle instead of one per run directory. The
name holds plotly.js's version: an upgrade writes a new file beside the old one, so pages
written before it keep the bundle they were drawn for. The file is written atomically
(a unique temporary file renamed over it: two renders at once never leave half a bundle)
and rewritten when it is missing or damaged (its size or SHA-256 differ from the bundle's).

Pages written before session 32 load `plotly.min.js` beside them; that copy stays until no
page in its folder refers to it any more (`drop_old_copy`, after the folder's pages are
rewritten), so an old run folder keeps working as it is. A bundle of an older plotly.js
that no page loads any more (its runs pruned, or every page redrawn after an upgrade) is
removed by `fraud-app prune` (`unused_bundles`); the current version's never is.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from plotly.offline import get_plotlyjs, get_plotlyjs_version

from dashboards.pagefile import is_temp
from dlcore.serialization.files import naming

ASSETS = "assets"  # folder of the shared files under the output
OLD_COPY = "plotly.min.js"  # the per-folder copy pages before session 32 load
_OLD_REF = re.compile(r"""src\s*=\s*["']?(\./)?plotly\.min\.js""")
_BUNDLE = re.compile(r"plotly-[^/\\\s\"'<>]+\.min\.js")  # a shared bundle's file name


def plotly_name() -> str:
    return f"plotly-{get_plotlyjs_version()}.min.js"


def plotly_src() -> str:
    """The script src of a page one folder below the output (a run's or a backtest's)."""
    return f"../{ASSETS}/{plotly_name()}"


@functools.cache
def bundle() -> tuple[bytes, str]:
    """plotly.js as written (UTF-8) and its SHA-256."""
    data = get_plotlyjs().encode("utf-8")
    return data, hashlib.sha256(data).hexdigest()


# files found intact in this process, by path -> (inode, size, mtime_ns) when checked:
# a render of many runs hashes the 4.8 MB file once, and again only when it changed
_checked: dict[str, tuple[int, int, int]] = {}


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _intact(path: Path) -> bool:
    data, digest = bundle()
    stamp = _stamp(path)
    if stamp is None or not path.is_file() or stamp[1] != len(data):
        return False
    if _checked.get(str(path)) == stamp:
        return True
    try:
        ok = hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False
    if ok:
        _checked[str(path)] = stamp
    return ok


def ensure_plotly(output: Path) -> Path:
    """`<output>/assets/plotly-<version>.min.js`, written when missing or damaged."""
    path = Path(output) / ASSETS / plotly_name()
    if _intact(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    data, _ = bundle()
    with naming(path):  # a full disk's error names the file
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from a web server's user
            os.replace(tmp, path)  # a reader never sees half a bundle
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    stamp = _stamp(path)  # the bytes just written: no need to hash them again
    if stamp is not None:
        _checked[str(path)] = stamp
    return path


def drop_old_copy(folder: Path) -> bool:
    """Remove `folder/plotly.min.js` (a pre-session-32 copy) once no page in the folder
    refers to it; True when it was removed. A page that cannot be read counts as one that
    refers to it."""
    old = Path(folder) / OLD_COPY
    if not old.is_file() or old.is_symlink():
        return False
    for page in Path(folder).glob("*.htm*"):
        if is_temp(page.name):  # a killed render's part page, or one being written
            continue
        try:
            if _OLD_REF.search(page.read_text(encoding="utf-8", errors="replace")):
                return False
        except OSError:
            return False
    old.unlink(missing_ok=True)
    return True


def unused_bundles(output: Path, gone: Iterable[Path] = ()) -> list[Path]:
    """The bundles in `<output>/assets/` of an older plotly.js that no page under `output`
    loads, the pages under `gone` (folders or files about to be removed) left out. The
    current version's bundle is never among them; nothing is when a page cannot be read
    (it might load any of them)."""
    assets = Path(output) / ASSETS
    if not assets.is_dir():
        return []
    current = plotly_name()
    candidates = [
        p
        for p in sorted(assets.iterdir())
        if _BUNDLE.fullmatch(p.name) and p.name != current and p.is_file() and not p.is_symlink()
    ]
    if not candidates:
        return []
    gone = [Path(g) for g in gone]
    loaded: set[str] = set()
    for page in Path(output).rglob("*.htm*"):
        if page.parent == assets or any(page == g or g in page.parents for g in gone):
            continue
        if is_temp(page.name):  # a killed render's part page, or one being written
            continue
        try:
            loaded.update(_BUNDLE.findall(page.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            return []
    return [p for p in candidates if p.name not in loaded]
