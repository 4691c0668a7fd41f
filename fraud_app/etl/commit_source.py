"""Which input a change of the canonical table came from, so that only its own retry
finishes a killed one.

An `etl --mode append` or `labels` run swaps its dates in as one change under a commit
marker (fraud_app.etl.partition_swap). Killed inside it (SIGKILL, the OOM killer, a node
lost), it leaves some dates with its rows and others without: readers refuse the table,
and the re-run of the same step on the same input finishes the change (its rows in the
dates already swapped are identical duplicates, the others are added). Any other run
that writes the table (the next day's delivery, a label feed, a scheduler that skipped
the retry) took the killed run's marker over as if it were that retry: the half change
stayed, nothing refused the table any more, and the killed run's rows of the other dates
were never published, without a word.

`input_identity` is what a run records in its marker: its step, its input paths (as
given, and qualified: `where`, compared without their order, so that `d2`, `./d2`,
`/data/d2` and `file:/data/d2` are one input, and `labels b a` retries `labels a b`: a
feed's rows are ordered by file name, not by argument) and a digest of their data files
(relative name and size, from one listing; no data read), so that a delivery folder
refilled with the next day's files under the same path is another input.
`check_takeover` refuses a run whose identity is not the killed run's, unless an operator
renamed the killed run's marker to `_abandoned.json` (its input is gone for good).
"""

from __future__ import annotations

import hashlib
from typing import Any

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.partition_swap import ABANDONED
from fraud_app.uris import local_path

COMMANDS = {
    "etl": "fraud-app etl --mode append --input {paths}",
    "labels": "fraud-app labels {paths}",
}


def input_identity(fs: HadoopFs, step: str, paths: list[str]) -> dict[str, Any]:
    """{step, paths (as given), where (qualified, sorted), files, bytes, digest} of the
    data files under `paths` now."""
    entries = []
    for path in paths:
        root = fs.qualify(path).rstrip("/")
        for file, size in fs.list_sizes(path):
            entries.append(f"{file.removeprefix(root)}\t{size}")
    digest = hashlib.sha256("\n".join(sorted(entries)).encode("utf-8")).hexdigest()[:16]
    total = sum(int(e.rsplit("\t", 1)[1]) for e in entries)
    where = sorted({fs.qualify(path).rstrip("/") for path in paths})
    return {"step": step, "paths": list(paths), "where": where, "files": len(entries),
            "bytes": total, "digest": digest}  # fmt: skip


def _where(source: dict[str, Any], other: dict[str, Any]) -> Any:
    """What the input paths of `source` are compared by: qualified and sorted when both
    recorded them (a marker of session 38's first release has the paths as given only)."""
    return source.get("where") if "where" in source and "where" in other else source.get("paths")


def _shown(source: dict[str, Any]) -> list[str]:
    """The input paths to name in a command: absolute (the retry may run elsewhere)."""
    where = source.get("where") or source.get("paths") or []
    return [str(local_path(p) or p) for p in where]


def _described(source: dict[str, Any]) -> str:
    return (f"`fraud-app {source.get('step')}` on {', '.join(source.get('paths') or [])} "
            f"({source.get('files')} file(s), {source.get('bytes')} bytes)")  # fmt: skip


def check_takeover(table: str, job: str, marker: str, info: dict[str, Any],
                   source: dict[str, Any] | None) -> None:  # fmt: skip
    """DataIntegrityError when the killed job `job` (its marker file `marker`, content
    `info`) recorded an input and this run's `source` is another one. A marker without an
    input (written before this check) or a run that records none is taken over as before."""
    killed = info.get("input")
    if not isinstance(killed, dict) or source is None or marker.endswith(f"/{ABANDONED}"):
        return
    same_place = _where(killed, source) == _where(source, killed)
    if killed.get("step") == source.get("step") and same_place:
        if killed.get("digest") == source.get("digest"):
            return
        differs = (f"its input now holds other files ({source.get('files')} file(s), "
                   f"{source.get('bytes')} bytes): put back the files it held, or, if "
                   "this is the same delivery exported again, abandon the killed run as "
                   "below and run this command again (its rows already published are "
                   "duplicates it drops)")  # fmt: skip
    else:
        differs = f"this run is {_described(source)}"
    command = COMMANDS.get(str(killed.get("step")), "fraud-app {paths}").format(
        paths=" ".join(_shown(killed))
    )
    abandoned = f"{marker.rsplit('/', 1)[0]}/{ABANDONED}"
    raise DataIntegrityError(
        f"canonical table {table} is half-updated: job {job} (pid {info.get('pid')}, started "
        f"{info.get('started_at')}), {_described(killed)}, was killed while swapping in dates "
        f"{', '.join(info.get('dates') or [])}, and {differs}. Taking its change over would "
        "leave that input half published with nothing refusing the table. Run the killed "
        f"step again on its input first (`{command}`): it puts back what it moved and "
        f"finishes the change; then run this one. If that input is gone for good, rebuild "
        f"the table (`fraud-app etl --mode replace` over every delivery), or abandon the "
        f"killed run: rename {marker} to {abandoned} and run this command again (it puts "
        "back what the killed run moved aside, takes its quarantine file out and goes on "
        "from the table as the kill left it: the killed run's rows of the dates it had not "
        "swapped in stay missing until they are delivered again). Nothing was written"
    )
