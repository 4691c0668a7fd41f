"""Whether a feature table is older than the table it was computed from.

`fraud-app labels` and `etl --mode append` rewrite the canonical table's partitions in
place; a feature table built before them still holds the labels and rows as they were,
and `train`, `tune`, `backtest` and `evaluate` read it without a word (the labels a feed
filled in were left out of training as unlabelled rows). `features` records the state of
its input in `_features.json` (`source`), and the readers compare it with the input as it
is now (`warn_if_stale`): one WARNING naming both when they differ.

The state is the sorted list of the input's data files (relative paths, which hold the
partition values and, for Spark's part files, a unique id per write): every rewrite of a
partition (ETL replace or append, a labels run) gives new file names. No Spark job, one
listing of the table.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from fraud_app.etl.fs import HadoopFs

logger = logging.getLogger(__name__)


def source_state(fs: HadoopFs, table: str) -> dict[str, Any]:
    """{path, files, digest} of the data files under `table` now."""
    root = fs.qualify(table).rstrip("/")
    paths = [p[len(root) + 1 :] if p.startswith(root + "/") else p for p in fs.list_paths(root)]
    digest = hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16]
    return {"path": root, "files": len(paths), "digest": digest}


def warn_if_stale(fs: HadoopFs, feature_table: str, metadata: dict[str, Any]) -> bool:
    """WARNING when the input `features` read has changed since (True); a table built
    before `source` was recorded, or whose input is gone, is not judged (False)."""
    recorded = metadata.get("source")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("path"), str):
        return False
    path = recorded["path"]
    if not fs.exists(path):
        return False
    now = source_state(fs, path)
    if now["digest"] == recorded.get("digest"):
        return False
    logger.warning(
        "feature table %s is older than its input %s: that table was rewritten after "
        "`features` ran (%s data files then, %d now: a `labels` or `etl` run since), so "
        "this step reads the labels and rows as they were then. Run `fraud-app features` "
        "to bring the feature table up to date",
        feature_table, path, recorded.get("files", "?"), now["files"],
    )  # fmt: skip
    return True
