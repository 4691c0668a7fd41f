"""Data lineage of a training run: where the data came from and what exactly it held.

A table's content digest, for a table on the local file system: sha256 over the
table's data files as stored (every file Spark reads, i.e. not starting with `_` or
`.`, in sorted relative-path order: the relative path, which holds the partition
values, the size and every byte). No Spark job: the bytes are hashed by hashlib
(which releases the GIL, so it runs beside training) and the row count is the sum of
the Parquet footers' row counts. It identifies exactly the files read: the same rows
rewritten (other partitioning, other writer) give another digest. Tables elsewhere
(hdfs://, s3a://, ...) get the order-independent row digest: the row count and the
sum of xxhash64 over every column (and its null flag) of every row (one Spark pass),
hashed with sha256.
Every table also gets that row digest as `content_digest` (the same rows give the same
one, whatever files hold them: two runs from the same input compare equal there, never
on the files digest, whose bytes and names differ from write to write).
The feature-spec digest covers the spec files' names and bytes. `environment`: the
release and library versions, the dlcore backend's BLAS library and threads, and the git
commit of the code with whether its checkout had uncommitted changes.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path
from typing import Any

from fraud_app.uris import local_path

logger = logging.getLogger(__name__)


_CHUNK = 1 << 20


def _local_dir(path: str) -> Path | None:
    """The directory of a table on the local file system, else None."""
    p = local_path(path)
    return p if p is not None and p.is_dir() else None


def _data_files(root: Path) -> list[Path]:
    """The files Spark reads as the table: none whose name or folder starts with _ or ."""
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if p.is_file() and not any(part.startswith(("_", ".")) for part in rel):
            out.append(p)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def file_digest(root: Path) -> dict[str, Any]:
    """{"rows", "digest", "files", "bytes"} of a local Parquet table's data files."""
    import pyarrow.parquet as pq

    h = hashlib.sha256()
    rows = size = 0
    files = _data_files(root)
    for f in files:
        n = f.stat().st_size
        h.update(f"{f.relative_to(root).as_posix()}\0{n}\0".encode())
        with f.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        rows += pq.read_metadata(f).num_rows
        size += n
    return {"rows": rows, "digest": h.hexdigest()[:16], "digest_of": "files",
            "files": len(files), "bytes": size}  # fmt: skip


def table_digest(df) -> dict[str, Any]:
    """{"rows", "digest"} of a DataFrame's content (independent of row order and partitioning)."""
    from pyspark.sql import functions as F

    cols = [F.col(f"`{c}`") for c in sorted(df.columns)]
    # xxhash64 skips null arguments: without each column's null flag a value moved to
    # another column of its type (country 'DE', card_country null -> the reverse) hashed
    # as before, and two tables of other rows had one digest
    nulls = [c.isNull() for c in cols]
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.xxhash64(*cols, *nulls).cast("decimal(38,0)")).alias("h"),
    ).first()
    text = f"{row['rows']}:{row['h']}:{','.join(sorted(df.columns))}"
    return {"rows": int(row["rows"]), "digest": hashlib.sha256(text.encode()).hexdigest()[:16],
            "digest_of": "rows"}  # fmt: skip


def spec_digest(paths: list[Path]) -> dict[str, Any]:
    import yaml

    h = hashlib.sha256()
    versions = set()
    for p in sorted(paths, key=lambda p: p.name):
        data = p.read_bytes()
        h.update(p.name.encode() + b"\0" + data + b"\0")
        doc = yaml.safe_load(data) or {}
        versions.add(str(doc.get("version")))
    return {
        "files": [p.name for p in sorted(paths, key=lambda p: p.name)],
        "digest": h.hexdigest()[:16],
        "version": ",".join(sorted(versions)),
    }


def git_commit(start: Path | None = None) -> str | None:
    """HEAD of the git checkout holding this code (None when not a checkout or no git)."""
    state = git_state(start)
    return state["commit"] if state else None


def _git(where: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
            encoding="utf-8",
            errors="replace",
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(start: Path | None = None) -> dict[str, Any] | None:
    """{"commit", "dirty", "modified"} of the git checkout whose TRACKED files hold the code
    in `start` (default: this package); None when the code is not tracked by a checkout.

    A package installed into a virtual environment that lies inside some other git
    checkout (a `.venv` in the user's own project, ignored there) is not that checkout's
    code: its HEAD was recorded as the code version. `dirty`: tracked files of the
    checkout differ from HEAD, or it holds untracked (not ignored) Python files, which the
    code may import, so HEAD alone does not name the code that ran; `modified` lists up to
    20 of them."""
    where = (start or Path(__file__).resolve().parent).resolve()
    if not where.is_dir():
        return None
    commit = (_git(where, "rev-parse", "HEAD") or "").strip()
    if not commit or not (_git(where, "ls-files", "--", ".") or "").strip():
        return None  # no checkout, or one that does not track this code
    status = _git(where, "status", "--porcelain", "--untracked-files=all", "--", ":/")
    modified = [
        line[3:]
        for line in (status or "").splitlines()
        if line.strip() and (not line.startswith("??") or line.endswith(".py"))
    ]
    return {"commit": commit, "dirty": bool(modified) if status is not None else None,
            "modified": modified[:20]}  # fmt: skip


def environment() -> dict[str, Any]:
    """What the run's numbers depend on besides the data, config and seed: the release of
    fraud-app, the versions of Python and the numeric / data libraries, the dlcore backend
    (its library and version, the BLAS threads) and the git state of the code."""
    import platform
    from importlib import metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("fraud-app", "numpy", "pyspark", "pyarrow", "mlflow", "great-expectations"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"versions": versions, "dlcore": dlcore_environment(), "git": git_state()}


def dlcore_environment() -> dict[str, Any]:
    """The dlcore backend of this process: name, BLAS library with its version, threads."""
    from dlcore.backends import get_ops

    ops = get_ops()
    return {"backend": ops.name, "library": ops.library(), "threads": ops.num_threads()}


def _digest(spark, name: str, path: str) -> dict[str, Any]:
    """The files digest (a local table) and, for every table, the row digest as
    `content_digest`: Spark's Parquet writer lists each column chunk's encodings in no
    fixed order, so the same rows written twice (a rerun of `etl` or `features` on the
    same input) give other bytes, and other part-file names: only the row digest says
    that two runs read the same data."""
    try:
        rows = table_digest(spark.read.parquet(path))
        local = _local_dir(path)
        out = file_digest(local) if local else dict(rows)
        return {**out, "content_digest": rows["digest"]}
    except Exception as exc:  # a missing table is lineage too, not a failure
        logger.warning("lineage: cannot read %s table %s: %s", name, path, exc)
        return {"rows": None, "digest": None}


def collect(spark, config) -> dict[str, Any]:
    """Lineage of the canonical and feature tables, the feature specs and the code."""
    tables = {
        "canonical": config.canonical_table(),
        "features": config.feature_table(),
    }
    out: dict[str, Any] = {"tables": {}}
    for name, path in tables.items():
        out["tables"][name] = {"path": path, **_digest(spark, name, path)}
    out["feature_spec"] = feature_spec_lineage(config.features)
    env = environment()
    out["git_commit"] = (env["git"] or {}).get("commit")
    out["dlcore_backend"] = env["dlcore"]["backend"]
    out["environment"] = env
    return out


def dlcore_backend() -> str:
    """The BLAS backend this process trains with (the workers use the driver's): `auto`
    times the libraries per process, so a run on a loaded machine can pick the other one;
    `DLCORE_BACKEND=<this>` repeats a run bit for bit."""
    from dlcore.backends import get_ops

    return get_ops().name


def feature_spec_lineage(features) -> dict[str, Any] | None:
    """Digest and version of the specs the feature step reads (the shipped ones when
    `features.spec_dir` is unset); None, with a warning, when they cannot be read."""
    from fraud_app.features.spec import spec_paths
    from fraud_app.resources import shipped_spec_dir

    try:
        paths = spec_paths(features.spec_dir or shipped_spec_dir(), features.spec_files)
        return spec_digest([Path(p) for p in paths])
    except Exception as exc:
        logger.warning("lineage: cannot read feature specs: %s", exc)
        return None
