"""What a scoring job read, in its summary: enough to tell later whether a re-run reads
the same rows (and so gives the same scores with the same model).

`source_files(fs, table, first, last)`: the date partitions `first`..`last` of a table
(None = unbounded) as the job found them: how many data files and bytes, and a digest of
each file's relative path, size and Parquet footer (fraud_app.etl.manifest: the footer
holds the row count, the row-group offsets and every column's min / max), so a partition
rewritten, added or removed since gives another digest; files are not read in full. The
feature table is read for the job's own dates; the canonical table, when the job computes
the features, up to its last date (the history before it enters the features; later
dates do not).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache, footers
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.uris import local_path

_PREFIX = f"{PARTITION_COLUMN}="


def _date_of(relative: str) -> str | None:
    for part in relative.split("/"):
        if part.startswith(_PREFIX):
            return part[len(_PREFIX) :]
    return None


def source_files(
    fs: HadoopFs, table: str, first: dt.date | None, last: dt.date | None,
    cache: FooterCache | None = None,
) -> dict[str, Any]:  # fmt: skip
    """{"first_date", "last_date", "files", "bytes", "digest"} of the partitions read;
    `cache`: the run's footers (read by its `_files.json` check already)."""
    root = fs.qualify(table).rstrip("/")
    low = first.isoformat() if first else None
    high = last.isoformat() if last else None
    chosen = []
    for path, size in fs.list_sizes(root):
        rel = path[len(root) + 1 :] if path.startswith(root + "/") else path
        day = _date_of(rel)
        if day is not None and ((low and day < low) or (high and day > high)):
            continue
        chosen.append((rel, path, size))
    digests = footers(fs, [(p, s) for _, p, s in chosen], local_path(root) is not None, cache)
    h = hashlib.sha256()
    for (rel, _, size), footer in zip(chosen, digests, strict=True):
        h.update(f"{rel}\0{size}\0{footer}\n".encode())
    return {"first_date": low, "last_date": high, "files": len(chosen),
            "bytes": sum(s for _, _, s in chosen), "digest": h.hexdigest()[:16]}  # fmt: skip
