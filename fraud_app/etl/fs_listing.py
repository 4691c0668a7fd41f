"""A Hadoop listing read in one Py4J round trip, whatever its length.

`FileSystem.listStatus` answers an array of FileStatus held in the JVM; reading it
element by element (the array element, `getPath`, `getName`, `isDirectory`, `getLen`...)
cost about six Py4J round trips per entry, so every listing of a table cost O(files):
85,271 round trips for a one-day `score` of a table of 730 dates (docs/PROBES.md,
session 39). Here the array is written in the JVM by Hadoop's own `ObjectWritable` (each
FileStatus as its Writable form: the `FileStatusProto` of hadoop-common's FSProtos.proto)
into one byte array, which comes back as bytes in one call and is decoded here.

Deeper levels are listed with one `globStatus` per level (`root/*/*`: every entry two
levels down, listed inside the JVM) instead of one `listStatus` per folder.

A path on this machine's disk is listed with `os.scandir`, no JVM at all: Hadoop's local
file statuses load their permissions lazily, one `ls -ld` process per file when the native
library is missing (as here): writing 1,460 of them took 4-8 s where Python lists them in
milliseconds. The entries are the ones Hadoop's LocalFileSystem gives: `file:` + the
normalised absolute path, symbolic links followed, a link to nothing left out, checksum
files (`.x.crc`) hidden as ChecksumFileSystem hides them.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import weakref
from typing import NamedTuple

from py4j.protocol import Py4JError

from fraud_app.uris import local_path, scheme

logger = logging.getLogger(__name__)

STATUS_ARRAY = "[Lorg.apache.hadoop.fs.FileStatus;"
STATUS_CLASS = "org.apache.hadoop.fs.FileStatus"
_FT_DIR = 1  # FileStatusProto.FileType.FT_DIR (FT_FILE = 2, FT_SYMLINK = 3)
_FILE_TYPES = (1, 2, 3)
_U64 = 1 << 64
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]{}])")


class Entry(NamedTuple):
    """One entry of a listing: the path as Hadoop's `Path.toString` writes it."""

    path: str
    is_dir: bool
    length: int
    mtime: int

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


class ListingFormatError(ValueError):
    """The bytes are not the ObjectWritable form of a FileStatus array this module reads."""


def local_folder(path: str, default_is_local: bool) -> str | None:
    """The absolute local path `path` names, None when Hadoop lists it elsewhere (another
    scheme, or no scheme and a remote fs.defaultFS)."""
    found = local_path(path)
    if found is None or (not scheme(path) and not default_is_local):
        return None
    return os.path.abspath(found)


def local_sizes(folder: str) -> list[tuple[str, int]] | None:
    """(path, bytes) of the data files under the local `folder`, sorted; None when it is
    not there."""
    try:
        return sorted((e.path, e.length) for e in local_data_files(folder))
    except FileNotFoundError:
        return None


def local_level(folder: str) -> list[Entry]:
    """The entries of the local directory `folder` as Hadoop's LocalFileSystem.listStatus
    gives them (a file: itself); FileNotFoundError when it is not there."""
    folder = os.path.abspath(folder)
    if not os.path.isdir(folder):
        return [_local_entry(folder)]
    out = []
    with os.scandir(folder) as found:
        for item in found:
            if item.name.startswith(".") and item.name.endswith(".crc"):
                continue  # ChecksumFileSystem's own files
            try:
                out.append(_local_entry(item.path, item.stat(), item.is_dir()))
            except OSError:  # gone since, a link to nothing or to itself: Hadoop skips
                continue  # an entry it cannot stat (File.exists false: FileNotFound)
    return out


def local_data_files(folder: str) -> list[Entry]:
    """The non-hidden data files under the local `folder`, recursively (HadoopFs.
    _data_files' answer); FileNotFoundError when it is not there."""
    found, todo = [], [folder]
    while todo:
        for entry in local_level(todo.pop()):
            if hidden(entry.name):
                continue
            if entry.is_dir:
                todo.append(entry.path[len("file:") :])
            else:
                found.append(entry)
    return found


def _local_entry(path: str, stat=None, is_dir: bool | None = None) -> Entry:
    stat = os.stat(path) if stat is None else stat
    is_dir = os.path.isdir(path) if is_dir is None else is_dir
    return Entry(f"file:{path}", is_dir, stat.st_size, stat.st_mtime_ns // 1_000_000)


def read_statuses(jvm, conf, statuses) -> list[Entry]:
    """A JVM FileStatus array (None: a glob that matched nothing) read in one round trip;
    element by element (about six round trips each) only where it cannot be written so (a
    FileStatus subclass whose Writable form fails, a Hadoop without these classes)."""
    if statuses is None:
        return []
    try:
        writer = _bulk_writer(jvm)
        buffer = writer.buffer()
        writer.write(buffer, statuses, writer.array_class, conf)
        return decode_statuses(bytes(buffer.getData())[: int(buffer.getLength())])
    except (Py4JError, ListingFormatError) as exc:
        logger.debug("listing read entry by entry: %s", exc)
    return [
        Entry(str(p.toString()), bool(s.isDirectory()), int(s.getLen()),
              int(s.getModificationTime()))
        for s in statuses
        for p in [s.getPath()]
    ]  # fmt: skip


class _BulkWriter:
    """The JVM classes a bulk read uses, looked up once per JVM (a class's look-up is a
    Py4J round trip per part of its name)."""

    def __init__(self, jvm) -> None:
        self.write = jvm.org.apache.hadoop.io.ObjectWritable.writeObject
        self.buffer = jvm.org.apache.hadoop.io.DataOutputBuffer
        self.array_class = jvm.java.lang.Class.forName(STATUS_ARRAY)


_WRITERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bulk_writer(jvm) -> _BulkWriter:
    writer = _WRITERS.get(jvm)
    if writer is None:
        writer = _WRITERS[jvm] = _BulkWriter(jvm)
    return writer


def glob_literal(path: str) -> str:
    """`path` with Hadoop's glob characters escaped, so `globStatus` reads it literally."""
    return _GLOB_SPECIAL.sub(r"\\\1", path)


def hidden(name: str) -> bool:
    """Names Spark's listings skip (HadoopFSUtils.shouldFilterOutPathName): `_x`, `.x`, and
    `x._COPYING_` (a copy under way: `hdfs dfs -put`/`-cp`)."""
    return name.startswith(("_", ".")) or name.endswith("._COPYING_")


def decode_statuses(data: bytes) -> list[Entry]:
    """The entries of `ObjectWritable.writeObject(out, FileStatus[], FileStatus[].class)`:
    the array's class name, its length, then per element the declared and the actual class
    names and the element's Writable bytes (an int length and a FileStatusProto)."""
    reader = _Reader(data)
    if reader.utf8() != STATUS_ARRAY:
        raise ListingFormatError("not a FileStatus array")
    out = []
    for _ in range(reader.int32()):
        if reader.utf8() != STATUS_CLASS:  # the declared class (else: a null element)
            raise ListingFormatError("an array element not written as a FileStatus")
        reader.utf8()  # its own class (LocatedFileStatus, S3AFileStatus, ...)
        out.append(_decode_status(reader.take(reader.int32())))
    if reader.pos != len(data):
        raise ListingFormatError(f"{len(data) - reader.pos} byte(s) after the last status")
    return out


def _decode_status(proto: bytes) -> Entry:
    """FileStatusProto's path (2), file type (1), length (3) and modification time (7).
    The last two are Java longs written as uint64: a time before 1970 is read back as
    the negative number FileStatus held (it was 2**64 - 1001 for -1001 ms)."""
    fields = dict(_proto_fields(proto))
    path, kind = fields.get(2), fields.get(1)
    if not isinstance(path, bytes) or not path or kind not in _FILE_TYPES:
        raise ListingFormatError("a FileStatus without its path or file type")
    return Entry(_text(path), kind == _FT_DIR, _long(fields.get(3, 0)), _long(fields.get(7, 0)))


def _long(value) -> int:
    """A uint64 varint as the Java long it was written from."""
    if not isinstance(value, int) or value >= _U64:
        raise ListingFormatError("a FileStatus length or time that is no 64-bit number")
    return value - _U64 if value >= _U64 >> 1 else value


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ListingFormatError(f"a name that is not UTF-8 (byte {exc.start})") from None


def _proto_fields(proto: bytes):
    """(field number, value) of a protobuf message: varints as ints, length-delimited
    fields as bytes; fixed-width fields skipped."""
    reader = _Reader(proto)
    while reader.pos < len(proto):
        key = reader.varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, reader.varint()
        elif wire == 2:
            yield number, reader.take(reader.varint())
        elif wire in (1, 5):
            reader.take(8 if wire == 1 else 4)
        else:
            raise ListingFormatError(f"protobuf wire type {wire}")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ListingFormatError("truncated listing")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def int32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def utf8(self) -> str:  # Hadoop's UTF8.writeString: a short length, then the bytes
        return _text(self.take(struct.unpack(">H", self.take(2))[0]))

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
