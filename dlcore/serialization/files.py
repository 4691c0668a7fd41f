"""File-level building blocks of dlcore's formats: atomic writes, safe reads, array records.

Owns: writing JSON and .npz files atomically (temp file in the same directory, fsync,
`os.replace`), reading them back WITHOUT pickle (`np.load(..., allow_pickle=False)`,
object dtypes refused from the .npy header before any data is read), and the JSON
"array records" (name, shape, dtype, sha256) that let a reader check an archive
against what the writer meant. The distributed trainer reuses these for its
checkpoints. Does not own what a model or optimizer file contains (`model`,
`optimizer_state`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from dlcore.errors import SerializationError

Expected = Mapping[str, tuple[tuple[int, ...], Any]]


def sha256_array(arr: np.ndarray) -> str:
    """Hex sha256 of an array's bytes in C order."""
    return hashlib.sha256(np.ascontiguousarray(arr).data).hexdigest()


def fsync_dir(directory: Path) -> None:
    # Best effort: some platforms cannot open a directory. Not reachable on Linux, where
    # the tests run: equivalent mutants (docs/TESTING.md).
    with contextlib.suppress(OSError):  # pragma: no mutate
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def naming(path: str | os.PathLike) -> Iterator[None]:
    """An OSError without a file name raised inside (a write() that failed: "[Errno 28] No
    space left on device") is raised again naming `path`, so that the error says which
    file, and so which disk, it was; one with a name, or no errno, as it is."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def _write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write to a temp file in the same directory, fsync, then os.replace over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with naming(path):  # a failed write() names no file: the CLI's line names the disk
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            # `tmp` exists unless an interrupt lands just after os.replace: not testable, so
            # its mutants count as equivalent (docs/TESTING.md).
            with contextlib.suppress(FileNotFoundError):  # pragma: no mutate
                os.unlink(tmp)
            raise
    fsync_dir(path.parent)


SEAL = "sha256"  # the top-level key of a sealed JSON file: the digest of the rest of it


def _digest(obj: dict[str, Any]) -> str:
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as a reader will see it (JSON types), with its digest under SEAL (replaced if
    there). ValueError / TypeError for what JSON cannot hold."""
    plain = json.loads(json.dumps({k: v for k, v in obj.items() if k != SEAL}, allow_nan=False))
    return {**plain, SEAL: _digest(plain)}


def write_json_atomic(path: str | os.PathLike, obj: Any, *, sealed: bool = False) -> None:
    """Write `obj` as JSON (no NaN/Infinity) to `path` atomically. `sealed`: add the sha256
    of the object's canonical JSON under SEAL, which `check_seal` verifies on reading."""
    try:
        obj = seal(obj) if sealed else obj
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"{path}: cannot encode as JSON: {exc}") from exc
    _write_atomic(path, lambda f: f.write(text.encode()))  # UTF-8


def check_seal(meta: dict[str, Any], path: Path, keys: frozenset[str]) -> None:
    """`meta`, read from `path`, must match the seal it was written with: a flipped bit in a
    size, a step count, an activation's slope or a data position parses as valid JSON and
    was loaded silently (the arrays' own sha256 records do not cover the JSON around them).
    Files written before seals existed carry none and are read as before; every top-level
    key must then be one of `keys` (a flip inside the key SEAL itself leaves an unknown
    key behind, never a file without one)."""
    unknown = sorted(set(meta) - keys - {SEAL})
    if unknown:
        raise SerializationError(
            f"{path}: unexpected key(s) {unknown}; expected {sorted(keys)}. The file is "
            "corrupted or was not written by dlcore"
        )
    if SEAL not in meta:
        return
    try:
        digest = _digest({k: v for k, v in meta.items() if k != SEAL})
    except ValueError:  # NaN / Infinity, which no writer of a sealed file produces
        digest = None
    if meta[SEAL] != digest:
        raise SerializationError(
            f"{path}: its content does not match its sha256 seal: the file was corrupted (a "
            "flipped bit, a partial copy) or edited after it was written. Restore it from a "
            "good copy, or write it again"
        )


def write_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write named arrays as an uncompressed .npz atomically. Object arrays are refused."""
    for name, arr in arrays.items():
        if not isinstance(name, str) or not name:
            raise SerializationError(
                f"{path}: array names must be non-empty strings. Received {name!r}"
            )
        if np.asarray(arr).dtype.hasobject:
            raise SerializationError(
                f"{path}: array {name!r} has object dtype, which can only be stored by pickling"
            )

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w") as zf:  # stored (uncompressed), zip64 allowed: defaults
            for name, arr in arrays.items():
                # force_zip64 matters only for members over 4 GiB, too big for a test; object
                # arrays were refused above, so allow_pickle cannot act: equivalent mutants.
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:  # pragma: no mutate
                    data = np.ascontiguousarray(arr)
                    np.lib.format.write_array(member, data, allow_pickle=False)  # pragma: no mutate

    _write_atomic(path, write)


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from `path`; SerializationError if missing, unreadable or not an object."""
    path = Path(path)
    if not path.is_file():
        raise SerializationError(f"{path}: file is missing")
    try:
        obj = json.loads(path.read_bytes())  # bytes: JSON is UTF-8 (RFC 8259)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SerializationError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError:
        raise SerializationError(
            f"{path}: JSON nested too deeply to read; not a file written by dlcore"
        ) from None
    if not isinstance(obj, dict):
        raise SerializationError(f"{path}: expected a JSON object. Received {type(obj).__name__}")
    return obj


def _peek_header(npz: Any, name: str, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a member's .npy header, read without touching its data."""
    with npz.zip.open(f"{name}.npy") as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    if dtype.hasobject:
        raise SerializationError(
            f"{path}: array {name!r} has object dtype; it could only be loaded by "
            "unpickling, which dlcore never does"
        )
    return tuple(shape), dtype


def _check_members(zf: zipfile.ZipFile, path: Path) -> None:
    """Every member must be `<name>.npy`, each name once: no member is read but a checked one.

    numpy's NpzFile resolves `npz["a"]` to a member named `a` before `a.npy`, so an
    archive holding both would pass a header check on `a.npy` and load `a`.
    """
    names = zf.namelist()
    odd = sorted({n for n in names if not n.endswith(".npy")})
    dupes = sorted({n for n in names if names.count(n) > 1})
    if odd or dupes:
        raise SerializationError(
            f"{path}: not an archive written by dlcore: members must be unique '<name>.npy' "
            f"files. Unexpected members: {odd}; repeated: {dupes}"
        )


def check_finite(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], action: str) -> None:
    """Refuse float arrays holding NaN or inf: a model or checkpoint of them is garbage."""
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind in ("f", "c") and not np.isfinite(arr).all():
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            raise SerializationError(
                f"{path}: array {name!r} holds {bad} non-finite values (NaN or inf); refusing "
                f"to {action} it. Training diverged: lower the learning rate or clip "
                "gradients, and resume from an earlier checkpoint"
            )


def _check_names(path: Path, found: set[str], expected: set[str]) -> None:
    missing, extra = sorted(expected - found), sorted(found - expected)
    if missing or extra:
        raise SerializationError(
            f"{path}: arrays do not match. Missing: {missing}; unexpected: {extra}"
        )


def _check_array(path: Path, name: str, got: tuple[Any, np.dtype], want: tuple[Any, Any]) -> None:
    shape, dtype = tuple(int(s) for s in want[0]), np.dtype(want[1])
    if got[0] != shape:
        raise SerializationError(f"{path}: array {name!r} has shape {got[0]}; expected {shape}")
    if got[1] != dtype:
        raise SerializationError(f"{path}: array {name!r} has dtype {got[1]}; expected {dtype}")


def read_npz(
    path: str | os.PathLike,
    expected: Expected | None = None,
    *,
    checksums: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Named arrays from an .npz, loaded WITHOUT pickle and validated.

    expected: name -> (shape, dtype); every name must be present, none extra, each
        shape and dtype equal. Checked from the headers before any data is read.
    checksums: name -> hex sha256 of the array's bytes (see `sha256_array`).
    """
    path = Path(path)
    if not path.is_file():
        raise SerializationError(f"{path}: file is missing")
    if not zipfile.is_zipfile(path):
        raise SerializationError(f"{path}: not an .npz (zip) archive; truncated or corrupted")
    try:
        with np.load(path, allow_pickle=False) as npz:  # pragma: no mutate (also: _check_members)
            _check_members(npz.zip, path)
            headers = {name: _peek_header(npz, name, path) for name in npz.files}
            if expected is not None:
                _check_names(path, set(headers), set(expected))
                for name, want in expected.items():
                    _check_array(path, name, headers[name], want)
            arrays = {name: npz[name] for name in npz.files}
    except SerializationError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise SerializationError(f"{path}: cannot read archive ({exc}); corrupted?") from exc
    except (NotImplementedError, RuntimeError) as exc:  # a damaged compression / flag field:
        # zipfile's "That compression method is not supported", "File ... is encrypted"
        raise SerializationError(
            f"{path}: cannot read archive ({exc}); corrupted? (the writer stores every "
            "member uncompressed and unencrypted)"
        ) from exc
    for name, digest in (checksums or {}).items():
        if name in arrays and sha256_array(arrays[name]) != digest:
            raise SerializationError(
                f"{path}: array {name!r} fails its sha256 checksum; the file is corrupted "
                "or was modified after saving"
            )
    return arrays


def array_records(arrays: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    return [
        {"name": n, "shape": list(a.shape), "dtype": a.dtype.str, "sha256": sha256_array(a)}
        for n, a in arrays.items()
    ]


def parse_records(meta: dict[str, Any], key: str, path: Path) -> dict[str, dict[str, Any]]:
    """name -> record, after checking every record is well formed."""
    records = meta.get(key)
    if not isinstance(records, list):
        raise SerializationError(f"{path}: {key!r} must be a list of array records")
    out: dict[str, dict[str, Any]] = {}
    for i, rec in enumerate(records):
        ok = (
            isinstance(rec, dict)
            and isinstance(rec.get("name"), str)
            and isinstance(rec.get("shape"), list)
            and all(type(s) is int and s >= 0 for s in rec["shape"])
            and isinstance(rec.get("dtype"), str)
            and isinstance(rec.get("sha256"), str)
            and rec["name"] not in out
        )
        if not ok:
            raise SerializationError(
                f"{path}: {key}[{i}] must be a record with a unique name, shape, dtype "
                f"and sha256. Received {rec!r}"
            )
        try:
            rec["dtype"] = np.dtype(rec["dtype"])
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"{path}: {key}[{i}] has an unknown dtype") from exc
        out[rec["name"]] = rec
    return out


def check_format(meta: dict[str, Any], path: Path, fmt: str, version: int) -> None:
    if meta.get("format") != fmt:
        raise SerializationError(
            f"{path}: format tag must be {fmt!r}. Received {meta.get('format')!r}"
        )
    if meta.get("version") != version:
        raise SerializationError(
            f"{path}: unknown format version {meta.get('version')!r}; this dlcore reads "
            f"version {version}"
        )


def match_records(records: dict[str, dict[str, Any]], expected: Expected, path: Path) -> None:
    _check_names(path, set(records), set(expected))
    for name, want in expected.items():
        rec = records[name]
        _check_array(path, name, (tuple(rec["shape"]), rec["dtype"]), want)
