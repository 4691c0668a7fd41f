"""The reports directory as one render sees it: each JSON report parsed once, not once per
run. A year in production holds hundreds of scoring summaries and validation reports, and
every run's pages looked through all of them (runs x reports parses).

What is kept per file is small: its (mtime_ns, size) stamp, its mtime, and the few fields
that decide which run a report is about (`belongs_to`: model_uri, model_name,
model_version) or which validation report is a run's (`checked_at`), or the error that
reading it raised. The whole document (a scoring summary's per-feature histograms) is read
again only by the run it belongs to, so memory holds one run's reports at a time, not the
whole directory's.

A listing is taken and stamped on each call: a file written or rewritten during the render
(a scoring job finishing) is parsed again, never served stale, and a new one is seen by
the runs rendered after it, as before. (A rewrite of the same size that also keeps the
nanosecond mtime, e.g. a copy that restores times, is the one change a stamp cannot see.)
This module does not decide what belongs to a run
(dashboards.sources does).
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboards.errors import DashboardInputError

# the fields of a report that dashboards.sources uses to match it to a run
INDEX_FIELDS = ("model_uri", "model_name", "model_version", "checked_at")


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DashboardInputError(
            f"{path}: cannot read it as JSON ({exc}). Re-run the step that writes it"
        ) from exc
    if not isinstance(data, dict):
        raise DashboardInputError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


@dataclass(frozen=True)
class Entry:
    """One report as indexed: the fields in INDEX_FIELDS that it has, or its read error."""

    path: Path
    stamp: tuple[int, int]  # (st_mtime_ns, st_size) when it was parsed
    mtime: float
    fields: dict[str, Any]
    error: DashboardInputError | None = None

    def doc(self) -> dict[str, Any]:
        """The indexed fields; raises the report's read error (the same message each time)."""
        if self.error is not None:  # a new exception: re-raising one grows its traceback
            raise DashboardInputError(str(self.error)) from self.error.__cause__
        return self.fields


class ReportIndex:
    """Reports under `reports`, each parsed again only when its stamp changes."""

    def __init__(self, reports: Path):
        self.reports = reports
        self._entries: dict[str, Entry] = {}  # by file name
        self.parses = 0  # files parsed (index and full reads): what the tests count

    def entries(self, pattern: str) -> list[Entry]:
        """The files matching `pattern` (a glob without `/`) now, by name. One listing and
        one stat per file and call (no pathlib objects: a year holds ~1,000 reports)."""
        try:
            with os.scandir(self.reports) as it:
                found = sorted((d.name, d) for d in it if fnmatch.fnmatchcase(d.name, pattern))
        except FileNotFoundError:
            return []
        out = []
        for name, dirent in found:
            entry = self._entry(name, dirent)
            if entry is not None:
                out.append(entry)
        return out

    def _entry(self, name: str, dirent: os.DirEntry) -> Entry | None:
        try:
            st = dirent.stat()
        except FileNotFoundError:  # removed since the listing
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        entry = self._entries.get(name)
        if entry is None or entry.stamp != stamp:
            path = self.reports / name
            try:
                doc = self.read(path)
                fields = {k: doc[k] for k in INDEX_FIELDS if k in doc}
                entry = Entry(path, stamp, st.st_mtime, fields)
            except DashboardInputError as exc:
                entry = Entry(path, stamp, st.st_mtime, {}, exc)
            self._entries[name] = entry
        return entry

    def read(self, path: Path) -> dict[str, Any]:
        """The whole document, read now (not kept)."""
        self.parses += 1
        return read_json(path)


class UncachedIndex(ReportIndex):
    """Every call parses every matching file again: the dashboards before the index (each
    run read the whole directory). The benchmark's and the tests' reference path."""

    def _entry(self, name: str, dirent: os.DirEntry) -> Entry | None:
        self._entries.pop(name, None)
        return super()._entry(name, dirent)
