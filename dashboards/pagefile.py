"""Writing one page or image file so that a reader, a killed render or a second render
running at the same time never leaves or sees half of it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dlcore.serialization.files import naming


def write_page(path: Path, text: str) -> Path:
    """`text` as `path` (UTF-8), replaced in one rename; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own: two renders at once (`score` re-rendering beside `dashboards`)
    # shared `.<page>.tmp`, so one published the other's half-written page or failed with
    # FileNotFoundError; the mode stays the umask's, as the page's was
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    with naming(path):  # a full disk's error named no file ("No space left on device")
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)  # a reader never sees half a page
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk left the part page, holding the space
            raise
    return path
