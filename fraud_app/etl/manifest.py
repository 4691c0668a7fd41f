"""The data files a step wrote into a table (`_files.json`), and the check its readers make.

A table is a folder of Parquet part files; Spark reads whatever files are there. A part
file deleted (a partial copy or sync, a retention script, a person), a date partition
missing in the middle of the range, a file truncated or replaced by another partition's
file of the same name: before this record, the steps that read the table computed on
fewer or other rows without a word (a missing file is not an error to Spark; a replaced
file's rows take the date of the folder they sit in). Only a file Spark cannot decode at
all was named (fraud_app.etl.table_read.damaged_file_error).

Every writer of a table records, as its last act before the table becomes visible, the
relative path, byte size and Parquet footer digest of each data file (`_files.json`,
skipped by Spark's readers as every `_` file), and a sha256 of each metadata file it wrote
beside them (`_features.json`: the ordered feature names the vector is read with). Readers
(fraud_app.etl.table_read.read_table, the feature table's readers, the scorer's table source)
compare that record with one listing of the table and each file's footer: no Spark job
(0.1-0.3 s per step at 60-600 files: docs/PROBES.md, session 30). A difference is one
DataIntegrityError naming the table, the files that differ and what to do: put the files
back from a copy, run the step that writes the table again, or accept the table as it is
now by deleting its `_files.json` (a table without the record, as older releases wrote
them, is read as before).

Sizes and footers, not digests of the whole content: those would read every byte of the
table on every step. A truncated file is shorter; another partition's file of the same
size (small dates of one schema often are) has another footer (its row count, row-group
offsets, the min / max of every column). The footer is the file's last 8 + n bytes, read
with Python on a local disk, through Hadoop elsewhere, 16 files at a time (Spark reads
every footer anyway).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fraud_app import jsonout
from fraud_app.errors import DataIntegrityError
from fraud_app.etl.fs import HadoopFs
from fraud_app.uris import local_path

logger = logging.getLogger(__name__)

MANIFEST_NAME = "_files.json"
FORMAT = "fraud_app.files/1"
MAGIC = b"PAR1"
SHOWN = 3  # files named per kind of difference
TAIL = 1 << 16  # bytes read from a file's end: the footer of our tables' files fits
READERS = 16  # footers read at once from a store that is not a local disk
HELD_BYTES = 64 << 20  # footer bytes a FooterCache keeps (digests: all)


def _relative(root: str, path: str) -> str:
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


class FooterCache:
    """One run's Parquet footer reads, one per (full path, bytes): a `score` that computes
    its features read the canonical table's footers three times (the `_files.json` check,
    `fraud_app.scoring.input_fill`'s counts, `fraud_app.scoring.provenance`'s digest).
    Made by the run and handed down to each reader, never global: a file that changes
    between runs (another size, or a later run) is read again. It keeps every file's digest and the footers'
    bytes up to `max_bytes` in all (a table of 10^5 files holds ~0.5 GB of footers): a
    footer asked for again beyond that is read again. `reads`: the files read through it."""

    def __init__(self, max_bytes: int = HELD_BYTES) -> None:
        self._digests: dict[tuple[str, int], str] = {}
        self._bytes: dict[tuple[str, int], bytes | None] = {}
        self._held, self._max = 0, max_bytes
        self.reads = 0

    def _read(self, fs: HadoopFs, files: list[tuple[str, int]], local: bool) -> list:
        ends = _each_file(fs, files, local, _end)
        self.reads += len(files)
        for f, (footer, last) in zip(files, ends, strict=True):
            self._digests[f] = _digest_of((footer, last))
            if footer is None or self._held + len(footer) <= self._max:
                self._bytes[f] = footer
                self._held += len(footer or b"")
        return ends

    def digests(self, fs: HadoopFs, files: list[tuple[str, int]], local: bool) -> list[str]:
        """`footers` of each (full path, bytes) of at least 12 bytes."""
        self._read(fs, list(dict.fromkeys(f for f in files if f not in self._digests)), local)
        return [self._digests[f] for f in files]

    def held(self, files: list[tuple[str, int]]) -> list[bytes | None] | None:
        """The footers (`footers_bytes`) of each (full path, bytes) this cache holds, read
        by an earlier call; None when it does not hold every one (nothing is read)."""
        if any(f not in self._bytes for f in files):
            return None
        return [self._bytes[f] for f in files]

    def footers(self, fs: HadoopFs, files: list[tuple[str, int]], local: bool) -> list:
        """`footers_bytes` of each (full path, bytes) of at least 12 bytes."""
        todo = list(dict.fromkeys(f for f in files if f not in self._bytes))
        read = dict(zip(todo, self._read(fs, todo, local), strict=True))
        return [self._bytes[f] if f in self._bytes else read[f][0] for f in files]


def data_files(
    fs: HadoopFs, table: str, cache: FooterCache | None = None
) -> dict[str, dict[str, Any]]:
    """{relative path: {bytes, footer}} of the data files under `table` now."""
    root = fs.qualify(table).rstrip("/")
    files = fs.list_sizes(root)
    digests = footers(fs, files, local_path(root) is not None, cache)
    return {
        _relative(root, path): {"bytes": size, "footer": footer}
        for (path, size), footer in zip(files, digests, strict=True)
    }


def footers(
    fs: HadoopFs, files: list[tuple[str, int]], local: bool, cache: FooterCache | None = None
) -> list[str]:
    """16 hex digits of the sha256 of each (full path, bytes)'s Parquet footer (the file's
    last 8 + n bytes); of its last bytes when they are no footer (then the file is not
    Parquet, or cut); "short" below 12 bytes. Read through `cache` when given."""
    if cache is not None:
        return _by_file(files, lambda long: cache.digests(fs, long, local), "short")
    return _by_file(
        files, lambda long: [_digest_of(e) for e in _each_file(fs, long, local, _end)], "short"
    )


def footers_bytes(
    fs: HadoopFs, files: list[tuple[str, int]], local: bool, cache: FooterCache | None = None
) -> list[bytes | None]:
    """The Parquet footer (Thrift FileMetaData) of each (full path, bytes), None where its
    last bytes are no footer: `pyarrow.parquet.read_metadata` reads one as
    `MAGIC + footer + len(footer) (4 bytes, little-endian) + MAGIC`. Read through `cache`
    when given."""
    if cache is not None:
        return _by_file(files, lambda long: cache.footers(fs, long, local), None)
    return _by_file(files, lambda long: [f for f, _ in _each_file(fs, long, local, _end)], None)


def footer_metadata(footer: bytes | None) -> pq.FileMetaData | None:
    """The parsed Parquet metadata of one footer as `footers_bytes` gives it; None when it
    is None (no footer) or does not parse."""
    if footer is None:
        return None
    try:
        return pq.read_metadata(
            pa.BufferReader(MAGIC + footer + len(footer).to_bytes(4, "little") + MAGIC)
        )
    except (OSError, ValueError, pa.ArrowException):
        return None


def footer_rows(
    fs: HadoopFs, table: str, partitions: list[str] | None = None,
    cache: FooterCache | None = None,
) -> int | None:  # fmt: skip
    """The rows of the data files under `table` (of its partition folders `partitions`,
    e.g. `event_date=2024-01-05`, when given; a folder that is not there holds none),
    summed from their Parquet footers: no Spark job, where `spark.read.parquet(table)
    .count()` of a folder just written is three (its schema read, and a count's two under
    AQE). None when a file's last bytes are no footer that parses: the caller counts with
    Spark then, which names the damaged file. `cache`: the run's footers (read through
    it: a footer it holds is not read again)."""
    root = fs.qualify(table).rstrip("/")
    if partitions is not None:
        counts = list(partition_rows(fs, root, partitions, cache).values())
        return None if None in counts else sum(counts)
    metas = [
        footer_metadata(f)
        for f in footers_bytes(fs, fs.list_sizes(root), local_path(root) is not None, cache)
    ]
    if any(m is None for m in metas):
        return None
    return sum(int(m.num_rows) for m in metas)


def partition_rows(
    fs: HadoopFs, table: str, names: list[str], cache: FooterCache | None = None
) -> dict[str, int | None]:
    """{name: rows of the folder `table`/name, summed from its data files' Parquet footers
    (no Spark job)} for each of `names` (partition folders a listing of `table` named); a
    folder gone since that listing has no entry, a folder holding a file whose footer does
    not parse gets None. `cache`: the run's footers. A file gone between the folder's
    listing and its read raises (OSError, Py4JJavaError), as footers_bytes does."""
    root = fs.qualify(table).rstrip("/")
    listed = {n: held for n, held in fs.folder_sizes(root, names).items() if held is not None}
    files = [(name, path, size) for name, held in listed.items() for path, size in held]
    read = footers_bytes(fs, [(p, s) for _, p, s in files], local_path(root) is not None, cache)
    out: dict[str, int | None] = dict.fromkeys(listed, 0)
    for (name, _, _), footer in zip(files, read, strict=True):
        meta, held = footer_metadata(footer), out[name]
        out[name] = None if meta is None or held is None else held + int(meta.num_rows)
    return out


def _by_file(files: list[tuple[str, int]], read: Callable[[list], list], short: Any) -> list:
    """read(files of at least 12 bytes, the shortest a Parquet file can be) per file, in
    the order of `files`; `short` for the shorter ones."""
    long = [f for f in files if f[1] >= 12]
    got = dict(zip(long, read(long), strict=True))
    return [got.get(f, short) for f in files]


def _each_file(fs: HadoopFs, files: list[tuple[str, int]], local: bool, read: Callable) -> list:
    """read(fs, path, size, local) of each (full path, bytes): on a local disk one after the
    other with Python; elsewhere through Hadoop, READERS at a time (on an object store each
    read is a round trip of tens of ms: 10,000 files read one by one would take minutes
    every step)."""
    if local or len(files) < 2:
        return [read(fs, path, size, local) for path, size in files]
    with ThreadPoolExecutor(min(READERS, len(files)), thread_name_prefix="footers") as pool:
        return list(pool.map(lambda f: read(fs, f[0], f[1], local), files))


def _end(fs: HadoopFs, path: str, size: int, local: bool) -> tuple[bytes | None, bytes]:
    """(the footer or None, the file's last 8 bytes) of a file of at least 12 bytes."""
    footer, tail = _with_reader(fs, path, local, lambda read: _footer_read(size, read))
    return footer, tail[-8:]


def _digest_of(end: tuple[bytes | None, bytes]) -> str:
    """`footers`' digest of one `_end`."""
    if end[0] is None:
        return "nofooter-" + hashlib.sha256(end[1]).hexdigest()[:16]
    return hashlib.sha256(end[0]).hexdigest()[:16]


def _with_reader(fs: HadoopFs, path: str, local: bool, use: Callable[[Callable], Any]) -> Any:
    """use(read), read(offset, n) returning n bytes of the file at offset: through Hadoop,
    or on a local disk with one open (one read, two for a long footer)."""
    if not local:
        return use(lambda offset, n: fs.read_range(path, offset, n))
    with open(local_path(path), "rb") as f:

        def read(offset: int, n: int) -> bytes:
            f.seek(offset)
            return f.read(n)

        return use(read)


def _footer_read(size: int, read: Callable[[int, int], bytes]) -> tuple[bytes | None, bytes]:
    """(the footer or None, the last bytes read) of a file of `size` bytes: one read of
    the last TAIL bytes holds the footer of most files, a second read the rest."""
    tail = read(max(0, size - TAIL), min(size, TAIL))
    n = int.from_bytes(tail[-8:-4], "little")
    if tail[-4:] != MAGIC or n + 12 > size:
        return None, tail
    return (tail[-8 - n : -8] if n + 8 <= len(tail) else read(size - 8 - n, n)), tail


def _entries(raw: Any) -> dict[str, dict[str, Any]]:
    """The record's data files, checked: {relative path: {bytes: int, footer: str}}."""
    out = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("footer"), str):
            raise ValueError(f"entry {name!r} is not {{bytes, footer}}")
        out[str(name)] = {"bytes": int(entry["bytes"]), "footer": entry["footer"]}
    return out


def _whole(root: str, files: dict) -> dict:
    """`files` but those whose last bytes are no Parquet footer (a cut or emptied file:
    Spark's writer always ends a file with one), each named in a WARNING. Such a file was
    recorded as written by the steps that record a table as it is (the re-run after a
    killed commit, `score`'s update of a scores table whose record was unreadable), and
    its readers then took it for the writer's; left out, they name it ("not written by
    it") until it is rewritten or put back."""
    cut = sorted(f for f, e in files.items() if e["footer"] == "short"
                 or e["footer"].startswith("nofooter-"))  # fmt: skip
    if cut:
        logger.warning(
            "%s: %d data file(s) are no whole Parquet file (no footer: cut or emptied): %s; "
            "left out of its %s, so its readers name them: put them back from a copy or "
            "run the step that writes the table again", root, len(cut),
            _names(cut, files), MANIFEST_NAME,
        )  # fmt: skip
    return {f: e for f, e in files.items() if f not in cut}


def _write(fs: HadoopFs, root: str, files: dict, metadata: dict) -> dict[str, Any]:
    files = _whole(root, files)
    manifest = {
        "format": FORMAT,
        "files": len(files),
        "bytes": sum(f["bytes"] for f in files.values()),
        "data_files": dict(sorted(files.items())),
        "metadata": metadata,
    }
    fs.write_text(f"{root}/{MANIFEST_NAME}", jsonout.dumps(manifest, indent=1))
    return manifest


def _sha256(fs: HadoopFs, path: str) -> str:
    """The file's sha256; "" when Hadoop's own checksum (`.<name>.crc` beside it on a local
    disk) says it changed after it was written: an edit by a tool that is not Hadoop."""
    try:
        return hashlib.sha256(fs.read_bytes(path)).hexdigest()
    except Exception as exc:  # Py4JJavaError
        if "ChecksumException" in str(exc):
            return ""
        raise


def record(
    fs: HadoopFs, table: str, metadata: tuple[str, ...] = (), cache: FooterCache | None = None
) -> dict[str, Any]:
    """Write `<table>/_files.json`: the data files under `table` now and the sha256 of
    each metadata file named in `metadata` (names inside `table`). Call it on the staged
    folder before its swap (relative paths stay the same), or inside the commit of an
    in-place update. Returns the record. `cache`: the run's footers (e.g. those its row
    count just read)."""
    root = table.rstrip("/")
    sealed = {name: _sha256(fs, f"{root}/{name}") for name in metadata}
    return _write(fs, root, data_files(fs, root, cache), sealed)


def update(
    fs: HadoopFs, table: str, partitions: list[str], metadata: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Rewrite `<table>/_files.json` after `partitions` (folder names, e.g.
    `event_date=2024-01-05`) were swapped in or removed: their files as they are now, every
    other file as the record had it (so damage elsewhere stays visible to readers), and
    the sha256 of the metadata files named in `metadata` (rewritten with them). A table
    without a readable record is recorded as it is now."""
    root = table.rstrip("/")
    try:
        old = fs.read_json(f"{root}/{MANIFEST_NAME}")
        kept = _entries(old["data_files"])
    except Exception as exc:  # no record, or not one: start from the listing
        if fs.exists(f"{root}/{MANIFEST_NAME}"):
            logger.warning(
                "%s: its %s cannot be read (%s: %s); it is written again from the files "
                "as they are now (the other dates' files unchecked; those that are no whole "
                "Parquet file are left out of it)", root, MANIFEST_NAME,
                type(exc).__name__, str(exc)[:200],
            )  # fmt: skip
        return record(fs, root, metadata)
    ours = tuple(f"{p}/" for p in partitions)
    files = {f: e for f, e in kept.items() if not f.startswith(ours)}
    for part in partitions:  # only their footers are read
        if fs.exists(f"{root}/{part}"):
            files.update({f"{part}/{f}": e for f, e in data_files(fs, f"{root}/{part}").items()})
    sealed = {**old.get("metadata", {}), **{n: _sha256(fs, f"{root}/{n}") for n in metadata}}
    return _write(fs, root, files, sealed)


def differences(
    fs: HadoopFs, table: str, cache: FooterCache | None = None,
    only: Callable[[str], bool] | None = None,
) -> str | None:  # fmt: skip
    """What differs between the table and its `_files.json` ("" when nothing; None when the
    table has no record: written by a release before session 30, or accepted as it is).
    A record that is not one is a difference too. `only`: the data files (relative paths)
    compared, when not all of them."""
    root = table.rstrip("/")
    path = f"{root}/{MANIFEST_NAME}"
    if not fs.exists(path):
        return None
    try:
        manifest = fs.read_json(path)
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT!r}")
        written = _entries(manifest["data_files"])
        sealed = {str(k): str(v) for k, v in manifest.get("metadata", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"its record {MANIFEST_NAME} is not readable ({type(exc).__name__}: {exc})"
    now = data_files(fs, root, cache)
    if only is not None:
        written = {f: e for f, e in written.items() if only(f)}
        now = {f: e for f, e in now.items() if only(f)}
    missing = sorted(set(written) - set(now))
    extra = sorted(set(now) - set(written))
    changed = sorted(f for f in set(written) & set(now) if written[f] != now[f])
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_names(missing, written)})")
    if changed:
        shown = ", ".join(_change(f, now[f], written[f]) for f in changed[:SHOWN])
        more = f", ... {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
        parts.append(f"{len(changed)} changed ({shown}{more})")
    if extra:
        parts.append(f"{len(extra)} not written by it ({_names(extra, now)})")
    for name, digest in sealed.items():
        meta = f"{root}/{name}"
        if not fs.exists(meta):
            parts.append(f"its {name} is missing")
        elif _sha256(fs, meta) != digest:
            parts.append(f"its {name} was changed after it was written")
    if not parts:
        return ""
    total = sum(e["bytes"] for e in written.values())
    return f"of the {len(written)} data files written ({total} bytes), " + "; ".join(parts)


def _change(name: str, now: dict[str, Any], written: dict[str, Any]) -> str:
    if now["bytes"] != written["bytes"]:
        return f"{name} {now['bytes']} bytes, written {written['bytes']}"
    return f"{name}: another content of the same size, its Parquet footer differs"


def _names(files: list[str], entries: dict[str, dict[str, Any]]) -> str:
    shown = ", ".join(f"{f} ({entries[f]['bytes']} bytes)" for f in files[:SHOWN])
    return shown + (f", ... {len(files) - SHOWN} more" if len(files) > SHOWN else "")


def verify(
    fs: HadoopFs, table: str, what: str, step: str, cache: FooterCache | None = None
) -> None:
    """DataIntegrityError when the table's files are not the ones its writer recorded
    (module doc); nothing when they are, or when it records none. `cache`: the run's
    footers (FooterCache), when later readers of the same run read them too."""
    diff = differences(fs, table, cache)
    if not diff:
        return
    raise DataIntegrityError(
        f"{what} {table}: its data files are not the ones `fraud-app {step}` wrote (its "
        f"{MANIFEST_NAME}): {diff}. Reading it would compute on fewer or other rows than "
        "were written. Put back the files from a copy, or rebuild the table (`fraud-app "
        f"{step}`); to read the table as it is now, delete {table.rstrip('/')}/{MANIFEST_NAME}"
    )
