"""Data lineage of a training run: where the data came from and what exactly it held.

A table's content digest is order-independent: the row count and the sum of
xxhash64 over every column of every row (one Spark pass), hashed with sha256.
The feature-spec digest covers the spec files' names and bytes.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def table_digest(df) -> dict[str, Any]:
    """{"rows", "digest"} of a DataFrame's content (independent of row order and partitioning)."""
    from pyspark.sql import functions as F

    cols = [F.col(f"`{c}`") for c in sorted(df.columns)]
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.xxhash64(*cols).cast("decimal(38,0)")).alias("h"),
    ).first()
    text = f"{row['rows']}:{row['h']}:{','.join(sorted(df.columns))}"
    return {"rows": int(row["rows"]), "digest": hashlib.sha256(text.encode()).hexdigest()[:16]}


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


def collect(spark, config) -> dict[str, Any]:
    """Lineage of the canonical and feature tables, the feature specs and the code."""
    from fraud_app.features.spec import spec_paths

    paths = config.paths
    tables = {
        "canonical": config.features.input or str(paths.resolve("canonical")),
        "features": config.features.output or str(paths.resolve("features")),
    }
    out: dict[str, Any] = {"tables": {}}
    for name, path in tables.items():
        try:
            df = spark.read.parquet(path)
        except Exception as exc:  # a missing table is lineage too, not a failure
            logger.warning("lineage: cannot read %s table %s: %s", name, path, exc)
            out["tables"][name] = {"path": path, "rows": None, "digest": None}
            continue
        out["tables"][name] = {"path": path, **table_digest(df)}
    try:
        spec_files = [
            Path(p) for p in spec_paths(config.features.spec_dir, config.features.spec_files)
        ]
        out["feature_spec"] = spec_digest(spec_files)
    except Exception as exc:
        logger.warning("lineage: cannot read feature specs: %s", exc)
        out["feature_spec"] = None
    out["git_commit"] = git_commit()
    return out
