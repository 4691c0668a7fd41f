"""How HadoopFs lists folders: the data files of a table (recursively, Spark's hidden
entries skipped), their sizes and times, a folder's children. A path on this machine's
disk is listed with os.scandir; any other with one bulk read per folder level
(fs_listing: `listStatus`, then a `globStatus` of `path/*/*...` per deeper level), and
folder by folder where Hadoop's glob cannot name an entry (`_unglobbable`).

A mixin of HadoopFs (fraud_app.etl.fs), which gives it `_jvm`, `_conf`, `_path`, `_fs`,
`qualify`, `exists` and `is_dir`; split from it to keep each file one concern.
"""

from __future__ import annotations

import contextlib

from py4j.protocol import Py4JJavaError

from fraud_app.etl.fs_listing import (
    Entry,
    glob_literal,
    hidden,
    local_data_files,
    local_folder,
    local_level,
    local_sizes,
    read_statuses,
)
from fraud_app.uris import local_path, scheme


class FolderListing:
    """The listing methods of HadoopFs (module doc)."""

    _local_listing: bool
    _default_local: bool | None

    def list_files(self, path: str) -> list[str]:
        """Names of the data files under `path`, recursively; `_x`/`.x` entries skipped."""
        return [p.rsplit("/", 1)[-1] for p in self.list_paths(path)]

    def list_paths(self, path: str) -> list[str]:
        """Full paths of the data files under `path` (or `path` itself), sorted."""
        if not self.is_dir(path):
            return [self.qualify(path)]
        return sorted(e.path for e in self._data_files(path))

    def list_sizes(self, path: str) -> list[tuple[str, int]]:
        """(full path, bytes) of the data files under `path` (list_paths' files), sorted."""
        if not self.is_dir(path):
            return [
                (self.qualify(path), int(self._fs(path).getFileStatus(self._path(path)).getLen()))
            ]
        return sorted((e.path, e.length) for e in self._data_files(path))

    def folder_sizes(self, path: str, names: list[str]) -> dict[str, list[tuple[str, int]] | None]:
        """{name: list_sizes of the folder `path`/name} for each of `names`, folders of the
        directory `path` as a listing of it named them; None for one that is gone now (a
        swap or a cleanup since that listing). A local path: os.scandir; else all the
        folders in one `globStatus` per level (`path/{name1,name2,...}/*`): about eight Py4J
        round trips per folder before (`unscored_dates` lists every scored date's partition
        of two tables on each `score`), the same few now whatever their number."""
        if not names:
            return {}
        local = self._local(path)
        if local is not None:
            return {n: local_sizes(f"{local}/{n}") for n in names}
        fs, root = self._fs(path), glob_literal(str(path).rstrip("/"))
        base = root + "/{" + ",".join(glob_literal(n).replace(",", "\\,") for n in names) + "}"
        try:
            return self._globbed_sizes(fs, base, names)
        except Exception as exc:  # PySpark's IllegalArgumentException, not a Py4JJavaError
            if not _unglobbable(exc):
                raise
        return {n: self._sizes_or_none(fs, f"{str(path).rstrip('/')}/{n}") for n in names}

    def _sizes_or_none(self, fs, folder: str) -> list[tuple[str, int]] | None:
        try:
            return sorted((e.path, e.length) for e in self._data_files(folder, fs))
        except Py4JJavaError:  # FileNotFoundException: the folder went away
            return None

    def _globbed_sizes(self, fs, base: str, names: list[str]):
        """folder_sizes of the folders `names` that the glob pattern `base` names."""
        present = self._entries(fs.globStatus(self._path(base)))
        out: dict[str, list[tuple[str, int]] | None] = dict.fromkeys(names)
        out.update({e.name: [] for e in present})
        files = [e for e in present if not e.is_dir and not hidden(e.name)]  # a name that is a file
        if any(e.is_dir for e in present):
            files += self._below(fs, base, self._entries(fs.globStatus(self._path(base + "/*"))), 1)
        parent = len(present[0].path.rsplit("/", 1)[0]) + 1 if present else 0
        for entry in files:
            out[entry.path[parent:].split("/", 1)[0]].append((entry.path, entry.length))
        return {n: None if v is None else sorted(v) for n, v in out.items()}

    def newest_data_file(self, path: str) -> tuple[int, str] | None:
        """(modification time in ms, full path) of the newest data file under `path` (the
        files list_paths names), None when there is none."""
        if not self.exists(path):
            return None
        return max(((e.mtime, e.path) for e in self._data_files(path)), default=None)

    def list_stats(self, path: str) -> list[tuple[str, int, int]]:
        """(full path, bytes, modification time in ms) of the data files under the directory
        `path` (list_paths' files), sorted."""
        return sorted((e.path, e.length, e.mtime) for e in self._data_files(path))

    def _data_files(self, path: str, fs=None) -> list[Entry]:
        """Every data file under the directory `path`, recursively (or `path` itself when
        it is a file); `_x`/`.x` entries (and what they hold) and `x._COPYING_` files (a
        copy under way: `hdfs dfs -put`/`-cp`) skipped, as Spark skips them (HadoopFSUtils.
        shouldFilterOutPathName): a count from their footers counted the copy's rows that
        Spark's count of the table does not. A local path: os.scandir. Else one bulk
        listing per folder LEVEL, not per folder or file (fs_listing): the first level a
        `listStatus` (a missing `path` raises FileNotFoundException, as before), each
        deeper one a `globStatus` of `path/*/*...`. `fs`: its Hadoop FileSystem, when the
        caller looked it up."""
        local = self._local(path)
        if local is not None:
            with contextlib.suppress(FileNotFoundError):  # else Hadoop's error, as before
                return local_data_files(local)
        fs = self._fs(path) if fs is None else fs
        level = self._listing(fs, self._path(path))
        try:
            return self._below(fs, glob_literal(str(path).rstrip("/")), level, 1)
        except Exception as exc:  # PySpark's IllegalArgumentException, not a Py4JJavaError
            if not _unglobbable(exc):
                raise
        found, todo = [], list(level)  # one listing per folder, as before the globs
        while todo:
            entry = todo.pop()
            if not hidden(entry.name):
                todo += self._listing(fs, self._path(entry.path)) if entry.is_dir else []
                found += [] if entry.is_dir else [entry]
        return found

    def _below(self, fs, base: str, level: list[Entry], depth: int) -> list[Entry]:
        """The data files among `level` (the entries `depth` levels below the folders the
        glob pattern `base` names) and in their folders, one `globStatus` per level
        deeper; hidden entries (fs_listing.hidden) and what they hold skipped."""
        found: list[Entry] = []
        while level:
            folders = False
            for entry in level:
                if any(hidden(n) for n in entry.path.rstrip("/").rsplit("/", depth)[1:]):
                    continue
                folders |= entry.is_dir
                if not entry.is_dir:
                    found.append(entry)
            if not folders:
                break
            depth += 1
            level = self._entries(fs.globStatus(self._path(base + "/*" * depth)))
        return found

    def _local(self, path: str) -> str | None:
        """The local folder `path` names (listed with os.scandir), None for a remote one;
        a path without a scheme is local when fs.defaultFS is (asked once)."""
        if not self._local_listing:
            return None
        if self._default_local is None and not scheme(str(path)):
            self._default_local = str(self._conf.get("fs.defaultFS") or "file:").startswith("file:")
        found = local_folder(str(path), bool(self._default_local))
        if found is not None and not local_path(str(path)).is_absolute():
            # Hadoop's answer: the JVM's working directory, not this process's (an
            # os.chdir since the session started listed another folder than Spark reads)
            return local_folder(self.qualify(str(path)), True)
        return found

    def _listing(self, fs, jpath) -> list[Entry]:
        """The entries of `fs.listStatus(jpath)` (FileNotFoundException when it is gone)."""
        return self._entries(fs.listStatus(jpath))

    def _entries(self, statuses) -> list[Entry]:
        return read_statuses(self._jvm, self._conf, statuses)

    def children(self, path: str) -> list[str]:
        """Names directly under the directory `path` ([] when it does not exist)."""
        return sorted(name for name, _ in self.list_dir(path))

    def list_dir(self, path: str) -> list[tuple[str, bool]]:
        """(name, is_directory) of the direct children of `path` ([] when it does not
        exist), in one bulk listing (fs_listing): its status is asked only when the listing
        fails, to tell a missing folder from another error."""
        local = self._local(path)
        if local is not None:
            with contextlib.suppress(FileNotFoundError):
                return [(entry.name, entry.is_dir) for entry in local_level(local)]
            return []
        try:
            entries = self._listing(self._fs(path), self._path(path))
        except Py4JJavaError:
            if not self.exists(path):
                return []
            raise
        return [(entry.name, entry.is_dir) for entry in entries]


def _unglobbable(exc: Exception) -> bool:
    """Hadoop's glob failed on a name it cannot make a child Path of: it rebuilds every
    match as `new Path(parent, name)`, which parses `2024-01-01T10:00:00.parquet` as a
    URI of scheme `2024-01-01T10` (URISyntaxException: Relative path in absolute URI);
    `listStatus` lists such files, and Spark reads them."""
    return "URISyntaxException" in str(exc)
