"""Filesystem operations through Hadoop's FileSystem API, so local paths, HDFS and
object stores are handled alike, plus the write-then-swap (StagedDir) used for idempotent outputs.

On a local disk or HDFS a rename is atomic; on S3-like stores it is a copy, so the
swap there is only "all or nothing visible at the end", not atomic.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from fraud_app import jsonout
from fraud_app.errors import ConfigError
from fraud_app.etl.fs_walk import FolderListing
from fraud_app.interrupts import critical
from fraud_app.schema import partition_value
from fraud_app.spark.connect import FILE_SYSTEM, require_classic
from fraud_app.uris import local_path

logger = logging.getLogger(__name__)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the line ends of Java's BufferedReader.readLine


def _hsync(stream) -> None:
    """The bytes written to the Hadoop output `stream` on its storage's disks, where the
    stream says it can (HDFS: `hsync`); nothing where it cannot (a local disk's checksummed
    stream, S3A, whose hsync raises unless told to downgrade)."""
    if stream.hasCapability("hsync"):
        stream.hsync()


class HadoopFs(FolderListing):
    """Thin wrapper over org.apache.hadoop.fs.FileSystem for one SparkSession; its listings
    are FolderListing's (fraud_app.etl.fs_walk)."""

    def __init__(self, spark: SparkSession, local_listing: bool = True) -> None:
        """`local_listing`: list paths on this machine's disk with os.scandir (fs_listing);
        False: through Hadoop as remote ones (the tests of that code path)."""
        require_classic(
            spark, "fraud_app's file operations (fraud_app.etl.fs.HadoopFs)", FILE_SYSTEM
        )
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._codecs = None  # Hadoop's CompressionCodecFactory (head_bytes)
        self._local_listing = local_listing
        self._default_local: bool | None = None  # fs.defaultFS is file: (_local)
        # looked up once: `_jvm.org.apache.hadoop.fs.Path` is five Py4J round trips (one
        # per name), paid on every path made: 5.2 of `unscored_dates`' 6.9 s at 365 dates
        # (profiled; docs/PROBES.md, session 37)
        self._path_class = self._jvm.org.apache.hadoop.fs.Path

    def _path(self, path: str):
        return self._path_class(str(path))

    def _fs(self, path: str):
        return self._path(path).getFileSystem(self._conf)

    def qualify(self, path: str) -> str:
        p = self._path(path)
        return str(p.getFileSystem(self._conf).makeQualified(p).toString())

    def exists(self, path: str) -> bool:
        return bool(self._fs(path).exists(self._path(path)))

    def is_dir(self, path: str) -> bool:
        return bool(self._fs(path).getFileStatus(self._path(path)).isDirectory())

    def checksum(self, path: str) -> str | None:
        """The file system's own checksum of the file `path` ("<algorithm>:<hex>"; HDFS: an
        MD5 of its blocks' stored CRCs, no data read; S3A: its etag when
        fs.s3a.etag.checksum.enabled); None when it keeps none (a local disk, most stores)."""
        found = self._fs(path).getFileChecksum(self._path(path))
        if found is None:
            return None
        return f"{found.getAlgorithmName()}:{bytes(found.getBytes()).hex()}"

    def modification_time(self, path: str) -> int:
        """The modification time of the file `path`, in ms since the epoch."""
        return int(self._fs(path).getFileStatus(self._path(path)).getModificationTime())

    def rename(self, src: str, dst: str) -> None:
        if not self._fs(src).rename(self._path(src), self._path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def delete(self, path: str) -> None:
        if self.exists(path):
            self._fs(path).delete(self._path(path), True)

    def mkdirs(self, path: str) -> None:
        self._fs(path).mkdirs(self._path(path))

    def write_text(self, path: str, text: str) -> None:
        """Write the file `path` whole or not at all: into a hidden file beside it (which
        table listings skip), then renamed over it. It was written in place, so a disk
        that filled up part-way through a table's `_files.json` (an append's, a labels
        or score commit's) truncated the record and lost the old one. The new file is on
        the disk before its rename (HDFS: `hsync`; a local disk: fsync of it and its `.crc`,
        then of the folder), as fraud_app.jsonout's files are: after a power cut the
        rename could survive while the unsynced bytes did not, leaving the commit marker
        or `_files.json` empty under its final name (session 41). A store whose stream
        cannot sync (S3A: an upload at close) is written as before."""
        parent, name = str(path).rstrip("/").rsplit("/", 1)
        tag = uuid.uuid4().hex[:12]
        tmp = f"{parent}/.{name}.tmp-{tag}"
        fs = self._fs(path)
        try:
            stream = fs.create(self._path(tmp), True)
            try:
                stream.write(bytearray(text.encode("utf-8")))
                _hsync(stream)
            finally:
                stream.close()
            local = local_path(tmp)
            if local is not None:  # Hadoop's local stream offers no hsync: Python syncs it
                jsonout.sync_file(local)
                jsonout.sync_file(local.with_name(f".{local.name}.crc"))
            with critical():  # a SIGTERM waits until the record is in place (or back)
                self._move_in(fs, tmp, str(path), f"{parent}/.{name}.replaced-{tag}")
            if local is not None:
                jsonout.sync_dir(local.parent)  # the rename itself
        except BaseException:
            with contextlib.suppress(Exception):
                fs.delete(self._path(tmp), False)
            raise

    def _move_in(self, fs, tmp: str, path: str, aside: str) -> None:
        """Rename `tmp` over `path`. A local disk renames over the file (its .crc too); HDFS
        and object stores refuse an existing target: there the old file is moved aside
        first and deleted only once the new one is in place, and put back when the new one
        cannot be (the old one was deleted first: a rename that then failed lost both)."""
        if fs.rename(self._path(tmp), self._path(path)):
            return
        moved = bool(fs.rename(self._path(path), self._path(aside)))
        try:
            if not fs.rename(self._path(tmp), self._path(path)):
                raise OSError(f"could not rename {tmp} to {path}")
        except BaseException as exc:
            if moved and not fs.rename(self._path(aside), self._path(path)):
                raise OSError(
                    f"could not rename {tmp} to {path}, nor put the previous {path} back: it "
                    f"is kept as {aside}; rename it to {path}"
                ) from exc
            raise
        if moved:
            fs.delete(self._path(aside), False)

    def head_bytes(self, path: str, n: int) -> bytes | None:
        """The first `n` bytes of the file, decompressed as Hadoop (and so Spark) decompresses
        it by its extension (.gz, .bz2, ...); None when it cannot be read so (a damaged
        archive): the caller then lets Spark read it and say why."""
        p = self._path(path)
        try:
            stream = self._fs(path).open(p)
        except Exception:
            return None
        try:
            if self._codecs is None:  # built once: it looks up every codec class
                self._codecs = self._jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
                    self._conf
                )
            codec = self._codecs.getCodec(p)
            if codec is not None:
                stream = codec.createInputStream(stream)
            return bytes(stream.readNBytes(int(n)))
        except Exception:
            return None
        finally:
            stream.close()

    def read_bytes(self, path: str) -> bytes:
        """The whole file `path` (small files: metadata)."""
        stream = self._fs(path).open(self._path(path))
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """`length` bytes of the file `path` from `offset` (a Parquet footer); safe to call
        from several threads at once."""
        p = self._path(path)
        stream = p.getFileSystem(self._conf).open(p)
        try:
            stream.seek(offset)
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream, length))
        finally:
            stream.close()

    def read_json(self, path: str) -> Any:
        """The JSON value of the small record file `path` (a marker, a table's record) that
        this product wrote and reads back to decide something. ValueError, saying why, for a
        file that is not one whole JSON document: not JSON (truncated, emptied, edited), not
        UTF-8 (a flipped byte; read_text would read it as U+FFFD), or failing Hadoop's
        checksum (its `.crc` beside it: changed after it was written, which was a Py4J
        traceback). The caller names the file and says what it expected."""
        try:
            data = self.read_bytes(path)
        except Exception as exc:  # Py4JJavaError: Hadoop's checksum of an edited file
            if "ChecksumException" in str(exc):
                raise ValueError(
                    "Hadoop's checksum of it fails: changed after it was written"
                ) from None
            raise
        if not data.strip():
            raise ValueError(f"it is empty ({len(data)} bytes)")
        try:
            return json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg} at byte {exc.pos} of {len(data)})") from None

    def read_text(self, path: str) -> str:
        """The small text file `path` (metadata) as UTF-8, a malformed byte read as U+FFFD,
        its line breaks (`\\n`, `\\r`, `\\r\\n`) as `\\n` and none at the end: the text a
        loop of Java's `BufferedReader.readLine` gave. Read in one call: that loop was a
        Py4J round trip per line, and a table's `_files.json` has lines per data file: a
        `score` of one day paid 3,284 round trips for it at 180 dates, 14 more for every
        date (docs/PROBES.md, session 39)."""
        lines = _LINE_BREAK.split(self.read_bytes(path).decode("utf-8", errors="replace"))
        if lines[-1] == "":  # the final line break, or an empty file
            lines.pop()
        return "\n".join(lines)


def partition_dates(fs: HadoopFs, table: str) -> set[str]:
    """The `event_date` partitions of a table, from its folder names (no Spark job)."""
    values = (partition_value(name) for name, is_dir in fs.list_dir(table) if is_dir)
    return {value for value in values if value is not None}


def clean_stale_staging(fs: HadoopFs, final: str) -> list[str]:
    """Remove what killed runs left beside `final` (`<name>.tmp-*`, `<name>.old-*`).

    Call only while holding the output root's lock, so no live run's staging is touched.
    A run killed between its two renames leaves `final` missing and the previous output
    in `<name>.old-*`: that one is renamed back instead of deleted. Returns what it did.
    """
    final = final.rstrip("/")
    parent, name = final.rsplit("/", 1) if "/" in final else (".", final)
    done = []
    for child in fs.children(parent):
        if not child.startswith((f"{name}.tmp-", f"{name}.old-")):
            continue
        path = f"{parent}/{child}"
        if child.startswith(f"{name}.old-") and not fs.exists(final):
            fs.rename(path, final)
            done.append(f"restored {path} -> {final}")
        else:
            fs.delete(path)
            done.append(f"removed {path}")
    for line in done:
        logger.warning("stale output of a killed run: %s", line)
    return done


class StagedDir:
    """Write into a sibling temp dir (`tmp`), then `commit()` it into place as `final`.

    Readers see the old complete output or the new complete output; `discard()` (or an
    exception before commit) leaves `final` untouched. Re-running with the same input
    therefore replaces the output instead of appending to or mixing with it.
    """

    def __init__(self, fs: HadoopFs, final: str) -> None:
        self.fs, self.final = fs, final.rstrip("/")
        parent, name = self.final.rsplit("/", 1) if "/" in self.final else (".", self.final)
        token = uuid.uuid4().hex[:12]
        # no leading "." or "_": Spark ignores such paths when reading back
        self.tmp, self._old = f"{parent}/{name}.tmp-{token}", f"{parent}/{name}.old-{token}"
        fs.mkdirs(parent)

    def commit(self) -> None:
        with critical():  # a SIGTERM waits for the second rename (fraud_app.interrupts)
            had_old = self.fs.exists(self.final)
            if had_old:
                self.fs.rename(self.final, self._old)
            try:
                self.fs.rename(self.tmp, self.final)
            except OSError:
                if had_old:
                    self.fs.rename(self._old, self.final)
                raise
        self.fs.delete(self._old)
        logger.debug("committed %s into %s", self.tmp, self.final)

    def discard(self) -> None:
        self.fs.delete(self.tmp)


def check_apart(spark: SparkSession, reads: dict[str, str], writes: dict[str, str]) -> None:
    """ConfigError, before anything is written, when a directory a step writes (`writes`:
    setting -> path) is one of its inputs (`reads`), lies inside one or holds one, or two
    outputs overlap: the swap of the output would delete the input (etl.output = etl.input
    replaced the raw files with the canonical table, exit 0), or a later run would read
    the output as input (inputs are read recursively)."""
    fs = HadoopFs(spark)
    paths = {k: fs.qualify(v).rstrip("/") for k, v in {**reads, **writes}.items()}
    pairs = [(w, r) for w in writes for r in reads]
    pairs += [(a, b) for i, a in enumerate(writes) for b in list(writes)[i + 1 :]]
    for out, other in pairs:
        a, b = paths[out], paths[other]
        relation = (
            "is the same path as" if a == b
            else "lies inside" if a.startswith(b + "/")
            else "holds" if b.startswith(a + "/")
            else None
        )  # fmt: skip
        if relation:
            raise ConfigError(
                f"{out} {writes[out]} {relation} {other} {({**reads, **writes})[other]}: "
                "writing it would replace or mix with the other's files; give "
                f"{out} a directory of its own"
            )


def check_working_directory(spark: SparkSession, root: str, setting: str = "paths.root") -> None:
    """ConfigError when a relative `root` names another folder for Spark than for this
    process. Hadoop resolves it against the JVM's working directory (where the session
    started), Python against the process's: after an `os.chdir` in a notebook the tables
    were written under the first and the run lock, the readers' registrations and the
    reports under the second, so the lock guarded a folder no table was in."""
    ours = local_path(str(root))
    if ours is None or ours.is_absolute():
        return
    theirs = local_path(HadoopFs(spark).qualify(str(root)))
    here = Path(os.path.normpath(Path.cwd() / ours))
    if theirs is not None and Path(os.path.normpath(theirs)) != here:
        raise ConfigError(
            f"{setting} {str(root)!r} is relative: Spark writes it under {theirs}, this "
            f"process would lock it (and write its reports) under {here}, as the working "
            "directory changed after the Spark session started. Give an absolute "
            f"{setting}, or change back to the directory the session started in"
        )
