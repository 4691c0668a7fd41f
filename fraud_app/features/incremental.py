"""Whether `features` may recompute only the dates whose input changed, and from which date.

A full build reads every canonical row and rewrites every date of the feature table: in
the daily cycle (an append, a labels run, `features`) that is O(days) of windows, sorts
and writes each day. A row's point-in-time features depend only on canonical rows with a
timestamp <= its own and on labels known by then (fraud_app.features.windows), so when the
canonical dates before d0 are as they were, so are the features of the rows dated before
d0: only the dates >= d0 need computing (from d0 minus the specs' history,
fraud_app.scoring.history) and swapping in.

`features` records in `_features.json` (`incremental`): a digest of each canonical date
partition's data files: names, sizes and modification times (every rewrite of a
partition, an append, a labels run or a replace, gives new names; a file rewritten under
its own name by hand a new time) and digests of everything else the values depend on (`inputs`:
the specs, the label delay, the vector column, the canonical schema, the session time
zone, the timeline's ratio, this module's FORMAT and the release), and per date a digest of
its rows' content but the labels (`digests`). `plan` compares it with the input as it is
now: d0 is the first date whose files changed, appeared or went;
fraud_app.features.label_changes then moves it later when dates changed only in labels.
Anything it cannot vouch for is a full build, with the reason: no table or no record, a
setting or spec changed, the table's own files not the ones recorded (a damaged table,
a killed commit), an input not partitioned by event_date, or the rebuild asked for
(`features.incremental: false`, `features --full`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from importlib import metadata as package_metadata
from typing import Any

from fraud_app.errors import SchemaError
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache, differences
from fraud_app.etl.partition_swap import committing_jobs
from fraud_app.features.source_state import source_state
from fraud_app.features.spec import FeatureSet
from fraud_app.schema import partition_value

# bump when a change of the compiler changes feature values (2: sizes, times; 3: window
# std and z-score from deviations, not sum of squares - sum^2 / n: a table of format 2 holds
# the old values, so the next `features` rebuilds it whole; 4: a running window's std and
# z-score after a first amount far from the later ones, review34; 5: an include_current
# window whose current value is null keeps the frame's sum, mean and std, session 50: a
# table of one's own (features.input) with nulls in such a column held 0.0 / the fill;
# 6: `frame: running` sums, means, stds, z-scores, amount ratios and velocity ratios of
# sums from exact DECIMAL running sums, session 52: a table of format 5 holds the double
# running sums' values, which depended on where the sums started; 7: the same from exact
# 64-bit integer running sums of 1e-5 units, session 53: values rounded half even in
# binary instead of half up in decimal, and a std's last bits from another arithmetic;
# 8: a fraud rate counts a label known strictly before t, as the encodings do, review53b:
# a table of format 7 counted one known at exactly t)
FORMAT = 9
FORMAT_CHANGES = {
    3: "window std and z-score computed from deviations",
    4: "running-window std and z-score after a first amount far from the later ones",
    5: "include_current windows whose current value is null",
    6: "running-frame sums, means, stds and z-scores from exact DECIMAL running sums",
    7: "running-frame sums, means, stds and z-scores from exact integer running sums",
    8: "fraud rates count a label known strictly before the transaction",
    9: "running-frame include_current sums, means and stds add the current value exactly",
}
KEY = "incremental"  # its key in _features.json


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _release() -> str:
    try:
        return package_metadata.version("fraud-app")
    except package_metadata.PackageNotFoundError:
        return "unknown"


def input_digests(
    feature_set: FeatureSet, *, vector_column: str | None, schema: str, time_zone: str,
    day_volume_ratio: float,
) -> dict[str, str]:  # fmt: skip
    """{what: digest} of everything besides the rows that the table's values and metadata
    depend on; `plan` names the ones that differ."""
    specs = [{"kind": f.kind, **f.model_dump(mode="json")} for f in feature_set.features]
    return {
        "specs": _digest(specs),
        "label_delay": _digest(feature_set.label_delay_s),
        "settings": _digest(
            {"vector_column": vector_column, "min_day_volume_ratio": day_volume_ratio}
        ),
        "canonical_schema": _digest(schema),
        "time_zone": _digest(time_zone),
        "code": _digest({"format": FORMAT, "release": _release()}),
    }


def partition_states(fs: HadoopFs, table: str) -> dict[str, str] | None:
    """{date: digest of that date partition's data files (name, size, modification time)}
    of `table` now (one listing); None when a data file is not inside an event_date
    partition. The size and time too: a file rewritten under its own name (by hand, the
    table's `_files.json` then deleted to accept it, as its integrity error says) changes
    the rows but not the names, and the table was called up to date (session 32)."""
    root = fs.qualify(table).rstrip("/")
    if not fs.is_dir(root):
        return None
    groups: dict[str, list[str]] = {}
    for path, size, mtime in fs.list_stats(root):
        relative = path[len(root) + 1 :] if path.startswith(root + "/") else path
        folder, sep, _ = relative.partition("/")
        day = partition_value(folder) if sep else None
        if day is None:
            return None
        groups.setdefault(day, []).append(f"{relative}\t{size}\t{mtime}")
    return {
        day: hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]
        for day, names in sorted(groups.items())
    }


def record(
    inputs: dict[str, str], partitions: dict[str, str] | None, digests: dict[str, str]
) -> dict[str, Any]:
    """digests: {date: digest of its rows but their labels} (the value counts' pass)."""
    return {"format": FORMAT, "inputs": inputs, "partitions": partitions, "digests": digests}


@dataclass(frozen=True)
class Plan:
    """full: rebuild the whole table (`reason` says why); else recompute the dates from
    `start` on (None: none), rewrite the `patched` dates (before `start`) with their new
    labels only, and remove `gone` (dates the canonical table no longer holds). `changed`
    empty: no canonical date changed. `why`: what set `start` (label_changes.narrow)."""

    full: bool
    reason: str = ""
    start: dt.date | None = None
    changed: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    previous: dict[str, Any] | None = None  # the table's _features.json (incremental)
    patched: tuple[str, ...] = ()
    why: str = ""


def plan(
    fs: HadoopFs, target: str, source: str, now: dict[str, Any], *, forced: str | None,
    read_metadata, footers: FooterCache | None = None,
) -> Plan:  # fmt: skip
    """What `features` does with the table at `target` given `now` (`record` of the input
    as it is). forced: the reason of a rebuild asked for (None: not asked for).
    read_metadata(target): the table's _features.json (SchemaError when unreadable).
    footers: the run's footer reads (the `_files.json` check reads every data file's;
    fraud_app.features.table_update counts the kept dates' rows from the same ones)."""
    if forced:
        return Plan(True, forced)
    if now["partitions"] is None:
        return Plan(True, f"the input {source} holds data files outside event_date partitions")
    if not fs.exists(target):
        return Plan(True, "no feature table yet")
    if committing_jobs(fs, target):
        return Plan(True, "a killed `features` run left the table half-updated")
    try:
        meta = read_metadata(target)
    except SchemaError as exc:
        return Plan(True, f"its metadata is not readable ({exc})")
    was = meta.get(KEY)
    if not isinstance(was, dict) or not isinstance(was.get("format"), int):
        return Plan(True, "the table records no per-date state of its input (written by an "
                          "older release, or by another format)")  # fmt: skip
    if was["format"] != FORMAT:
        changes = [FORMAT_CHANGES[v] for v in sorted(FORMAT_CHANGES) if v > was["format"]]
        return Plan(True, f"its values were computed by another feature compiler (format "
                          f"{was['format']}, this release's {FORMAT}"
                          + (f": {'; '.join(changes)})" if changes else ")"))  # fmt: skip
    recorded = meta.get("source") if isinstance(meta.get("source"), dict) else {}
    if recorded.get("path") != fs.qualify(source).rstrip("/"):
        return Plan(True, f"it was computed from another input ({recorded.get('path')})")
    inputs = was.get("inputs") if isinstance(was.get("inputs"), dict) else {}
    differ = sorted(k for k in now["inputs"] if inputs.get(k) != now["inputs"][k])
    if differ:
        return Plan(True, f"{', '.join(differ)} changed since it was built")
    damage = _damage(fs, target, meta, footers)
    if damage:
        return Plan(True, f"its files are not the ones recorded ({damage})")
    before = was.get("partitions") if isinstance(was.get("partitions"), dict) else {}
    after = now["partitions"]
    changed = sorted(d for d in {*before, *after} if before.get(d) != after.get(d))
    if not changed:
        return Plan(False, previous=meta)
    gone = tuple(d for d in changed if d not in after)
    return Plan(
        False, start=dt.date.fromisoformat(changed[0]), changed=tuple(changed), gone=gone,
        previous=meta,
    )  # fmt: skip


def _damage(
    fs: HadoopFs, target: str, meta: dict[str, Any], footers: FooterCache | None = None
) -> str:
    """What makes the table's own files other than what its writer recorded ("": none)."""
    diff = differences(fs, target, footers)
    if diff is None:
        return "no _files.json"
    if diff:
        return diff
    own = meta.get("data_files") if isinstance(meta.get("data_files"), dict) else {}
    if own.get("digest") != source_state(fs, target)["digest"]:
        return "its data files differ from those _features.json names"
    return ""
