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

import datetime as dt
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


def warn_if_stale(
    fs: HadoopFs, feature_table: str, metadata: dict[str, Any], source: str | None = None
) -> bool:
    """WARNING when the input `features` read has changed since (True); a table whose input
    is gone is not judged (False). A table built before `source` was recorded (a release
    before session 23) is judged by time when the caller names its input (`source`, the
    configured canonical table): stale when a data file there is newer than the table's
    `_features.json`."""
    recorded = metadata.get("source")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("path"), str):
        return _older_than(fs, feature_table, source) if source else False
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


def _older_than(fs: HadoopFs, feature_table: str, source: str) -> bool:
    """A feature table without `source` (an older release's): WARNING when its input holds a
    data file written after the table's `_features.json` (an `etl --mode append` or
    `labels` run since; it was read without a word)."""
    newest = fs.newest_data_file(source)
    meta = f"{str(feature_table).rstrip('/')}/_features.json"
    if newest is None or not fs.exists(meta):
        return False
    written = fs.modification_time(meta)
    if newest[0] <= written:
        return False
    stamp = _utc(newest[0])
    logger.warning(
        "feature table %s records no state of its input (written by a fraud-app release "
        "before session 23: no `source` in its _features.json), and its input %s has a data "
        "file written after it (%s, %s; the table: %s): this step reads the labels and rows "
        "as they were then. Run `fraud-app features` to bring the feature table up to date",
        feature_table, source, newest[1], stamp, _utc(written),
    )  # fmt: skip
    return True


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
