"""Data lineage of a training run: where the data came from and what exactly it held.

A table's content digest, for a table on the local file system: sha256 over the
table's data files as stored (every file Spark reads, i.e. not starting with `_` or
`.`, in sorted relative-path order: the relative path, which holds the partition
values, the size and every byte). No Spark job: the bytes are hashed by hashlib
(which releases the GIL, so it runs beside training) and the row count is the sum of
the Parquet footers' row counts. It identifies exactly the files read: the same rows
rewritten (other partitioning, other writer) give another digest. Tables elsewhere
(hdfs://, s3a://, ...) get the order-independent row digest: the row count and the
sum of xxhash64 over every column of every row (one Spark pass), hashed with sha256.
The feature-spec digest covers the spec files' names and bytes.
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
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.xxhash64(*cols).cast("decimal(38,0)")).alias("h"),
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
    where = start or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _digest(spark, name: str, path: str) -> dict[str, Any]:
    try:
        local = _local_dir(path)
        return file_digest(local) if local else table_digest(spark.read.parquet(path))
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
    out["git_commit"] = git_commit()
    out["dlcore_backend"] = dlcore_backend()
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
