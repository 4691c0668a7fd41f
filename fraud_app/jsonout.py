"""JSON that every parser reads: the reports the steps write and the CLI's printed summaries.

Python's `json.dumps` writes an undefined metric (ROC AUC of a window without frauds, a
rate over zero rows) as `NaN` and an overflow as `Infinity`: not JSON, and `jq`,
JavaScript's `JSON.parse`, Go and most schedulers' parsers refuse the whole document. Here
every non-finite float is written as `null` ("undefined"), NumPy scalars and arrays as
plain numbers and lists, and anything else that JSON lacks through `default` (e.g. `str`
for dates and paths). Text is written as UTF-8 and non-ASCII characters as themselves
(`ensure_ascii=False`): a path with `ü` prints as `ü`, not `\\u00fc`, so it can be copied
back into a shell. Readers open these files as UTF-8, whatever the locale.
"""

from __future__ import annotations

import codecs
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.serialization.files import naming


def finite(value: Any) -> Any:
    """`value` with NaN and +-infinity replaced by None, recursively through mappings, lists
    and tuples; NumPy scalars and arrays become Python numbers and lists."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


ESCAPE_ERRORS = "fraud_app.json_escape"


def _json_escape(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a character the stream's encoding lacks is written as its JSON
    escape (`\\u00fc`), valid inside a JSON string and readable anywhere else."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    return json.dumps(text)[1:-1], exc.end


codecs.register_error(ESCAPE_ERRORS, _json_escape)


def escape_unencodable(stream: Any) -> str | None:
    """Let `stream` (sys.stdout) write any text: characters its encoding lacks (an ASCII
    or Latin-1 terminal) become JSON escapes instead of a UnicodeEncodeError after the
    work is done. Returns the stream's previous `errors` (None: not a reconfigurable
    text stream), for `reconfigure(errors=...)` afterwards."""
    previous = getattr(stream, "errors", None)
    if previous is None or not hasattr(stream, "reconfigure"):
        return None
    stream.reconfigure(errors=ESCAPE_ERRORS)
    return previous


def dumps(
    value: Any, *, indent: int | None = 2, default: Callable[[Any], Any] | None = None
) -> str:
    """Strict JSON text of `value` (see the module docstring); never writes NaN or Infinity."""
    return json.dumps(
        finite(value), indent=indent, default=default, allow_nan=False, ensure_ascii=False
    )


OWNER_ONLY = 0o600  # `private=True`: a file that holds a credential (rw for its owner only)


def _opened(path: Path, flags: int, private: bool):
    """`path` opened for writing text; `private`: created anew with mode 0600 (less, never
    more, under the umask), a file already there (a killed writer's temporary file, maybe
    0644) removed first, so the text is never readable by others, not even for a moment
    (no chmod afterwards, which some mounted file systems refuse)."""
    if not private:
        return path.open("x" if flags & os.O_EXCL else "w", encoding="utf-8")
    if not flags & os.O_EXCL:
        path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    try:
        return os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def _write_synced(path: Path, text: str, private: bool = False) -> None:
    """`text` written to `path` and on the disk (fsync) before the caller renames or links
    it into place: after a power cut the rename may survive while unsynced data does not,
    leaving an empty or cut file under the final name (session 40, corrupt40's left item)."""
    with _opened(path, os.O_TRUNC, private) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def sync_file(path: Path) -> None:
    """The file `path` on the disk (fsync), when it is there: for a file another writer
    (Hadoop's local file system, fraud_app.etl.fs.HadoopFs.write_text) wrote and closed."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(directory: Path) -> None:
    """The directory's entry (the rename) on the disk; best effort: some file systems
    cannot open or sync a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str, *, private: bool = False) -> Path:
    """Write `text` to `path` through a temporary file in the same directory and a rename,
    so a reader (the dashboards, a scheduler) sees the old file or the whole new one, never
    half of it, even when the process is killed while writing (and synced before the
    rename: a power cut cannot leave the new name on an empty file). `private`: the file
    is readable by its owner only (0600) from its first byte (a credential in it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with naming(path):
            _write_synced(tmp, text, private)
            os.replace(tmp, path)
            sync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _create_whole(path: Path, text: str, private: bool = False) -> None:
    """Create `path` holding `text` (FileExistsError when it is there); a write that fails
    part-way (a full disk) removes the part, which readers took for the whole file."""
    with _opened(path, os.O_EXCL, private) as f:
        try:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise


def write_new(path: Path, text: str, *, private: bool = False) -> bool:
    """Write `text` to `path` only if no file is there (False, nothing written, when one
    is): never replaces a file another process wrote, and, as write_atomic, a reader sees
    no file or the whole one (a temporary file hard-linked into place; on a file system
    without hard links an exclusive create). `private`: as write_atomic's."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with naming(path):
            _write_synced(tmp, text, private)
            try:
                os.link(tmp, path)  # fails if `path` exists
            except FileExistsError:
                return False
            except OSError:  # no hard links here
                _create_whole(path, text, private)
            sync_dir(path.parent)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True
