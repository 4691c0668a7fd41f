"""Which input a change of the canonical table came from, so that only its own retry
finishes a killed one.

An `etl --mode append` or `labels` run swaps its dates in as one change under a commit
marker (fraud_app.etl.partition_swap). Killed inside it (SIGKILL, the OOM killer, a node
lost), it leaves some dates with its rows and others without: readers refuse the table,
and the re-run of the same step on the same input finishes the change (an `etl` re-run
takes the killed run's swapped-in dates back out first and publishes the delivery whole:
fraud_app.etl.append_publish; a `labels` re-run finds the labels already applied
unchanged). Any other run
that writes the table (the next day's delivery, a label feed, a scheduler that skipped
the retry) took the killed run's marker over as if it were that retry: the half change
stayed, nothing refused the table any more, and the killed run's rows of the other dates
were never published, without a word.

`input_identity` is what a run records in its marker: its step, its input paths (as
given, and qualified: `where`, compared without their order, so that `d2`, `./d2`,
`/data/d2` and `file:/data/d2` are one input, and `labels b a` retries `labels a b`: a
feed's rows are ordered by file name, not by argument) and two digests of their data
files: `digest` (relative name and size, from one listing) and `content` (also each
file's `fingerprint`), so that a delivery folder refilled with the next day's files under
the same path is another input, and so is a file rewritten with other rows of the same
size (a corrected label); a marker of session 38 has `digest` only, compared as it was.
`repeated_job` tells a run that the table's last report published its input whole.
`check_takeover` refuses a run whose identity is not the killed run's, unless an operator
renamed the killed run's marker to `_abandoned.json` (its input is gone for good).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from fraud_app.errors import DataIntegrityError
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.partition_swap import ABANDONED
from fraud_app.uris import local_path

logger = logging.getLogger(__name__)

COMMANDS = {
    "etl": "fraud-app etl --mode append --input {paths}",
    "labels": "fraud-app labels {paths}",
}


def input_identity(fs: HadoopFs, step: str, paths: list[str]) -> dict[str, Any]:
    """{step, paths (as given), where (qualified, sorted), files, bytes, digest (names and
    sizes), content (names, sizes and contents: `fingerprint`), fingerprints (how the
    contents were read)} of the data files under `paths` now."""
    entries, contents, kinds = [], [], set()
    for path in paths:
        root = fs.qualify(path).rstrip("/")
        for file, size in fs.list_sizes(path):
            entries.append(f"{file.removeprefix(root)}\t{size}")
            kind, value = fingerprint(fs, file)
            kinds.add(kind)
            contents.append(f"{entries[-1]}\t{value}")
    total = sum(int(e.rsplit("\t", 1)[1]) for e in entries)
    where = sorted({fs.qualify(path).rstrip("/") for path in paths})
    return {"step": step, "paths": list(paths), "where": where, "files": len(entries),
            "bytes": total, "digest": _digest(entries), "content": _digest(contents),
            "fingerprints": sorted(kinds)}  # fmt: skip


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(lines)).encode("utf-8")).hexdigest()[:16]


def fingerprint(fs: HadoopFs, file: str) -> tuple[str, str]:
    """(how, value) of the content of the data file `file`: the sha256 of its bytes on a
    local disk (a delivery rewritten with other rows of the same size, e.g. a label 0 -> 1
    corrected in place, is another input; 1M CSV rows, 108 MB: 0.4-1.2 s, docs/PROBES.md
    session 39), the file system's own checksum elsewhere (HDFS: no data read), and its
    modification time where a store keeps neither (reading a remote delivery once more on
    each run would double its read)."""
    local = local_path(file)
    if local is not None:
        with open(local, "rb") as handle:
            return "sha256", hashlib.file_digest(handle, "sha256").hexdigest()
    checksum = fs.checksum(file)
    if checksum is not None:
        return "checksum", checksum
    return "mtime", str(fs.modification_time(file))


def _same_files(killed: dict[str, Any], source: dict[str, Any]) -> bool:
    """The files of both inputs compared by content when both recorded it (a marker of
    session 38: names and sizes)."""
    key = "content" if "content" in killed and "content" in source else "digest"
    return killed.get(key) == source.get(key)


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


def same_place(info: dict[str, Any], source: dict[str, Any] | None) -> bool:
    """Whether `source` is a run of the killed run's step on its input paths (marker
    content `info`), whatever they hold now."""
    killed = info.get("input")
    if not isinstance(killed, dict) or source is None:
        return False
    return killed.get("step") == source.get("step") and _where(killed, source) == _where(
        source, killed
    )


def same_input(info: dict[str, Any], source: dict[str, Any] | None) -> bool:
    """Whether `source` is the input the killed run of marker content `info` recorded (its
    own retry): the same step, place and files."""
    return same_place(info, source) and _same_files(info["input"], source)


def check_takeover(table: str, job: str, marker: str, info: dict[str, Any],
                   source: dict[str, Any] | None) -> None:  # fmt: skip
    """DataIntegrityError when the killed job `job` (its marker file `marker`, content
    `info`) recorded an input and this run's `source` is another one. A marker without an
    input (written before this check) or a run that records none is taken over as before."""
    killed = info.get("input")
    if not isinstance(killed, dict) or source is None or marker.endswith(f"/{ABANDONED}"):
        return
    # an `etl` run on the killed run's input paths takes its dates back out (AppendPublish)
    place = same_place(info, source)
    rolls_back = place and killed.get("step") == "etl"
    if place:
        if _same_files(killed, source):
            return
        rewritten = killed.get("digest") == source.get("digest")
        again = (
            "it takes the killed run's dates back out and publishes this input whole"
            if rolls_back
            else "it applies this feed over the labels the killed run applied"
        )
        differs = (f"its input now holds other files ({source.get('files')} file(s), "
                   f"{source.get('bytes')} bytes"
                   f"{': the same names and sizes, other contents' if rewritten else ''}): "
                   "put back the files it held, or, if this is the same delivery exported "
                   f"again (a correction), abandon the killed run as below and run this "
                   f"command again ({again})")  # fmt: skip
    else:
        differs = f"this run is {_described(source)}"
    command = COMMANDS.get(str(killed.get("step")), "fraud-app {paths}").format(
        paths=" ".join(_shown(killed))
    )
    leaves = ("takes the killed run's dates back out" if rolls_back else
              "goes on from the table as the kill left it: the killed run's rows of the dates "
              "it had not swapped in stay missing until they are delivered again")  # fmt: skip
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
        f"back what the killed run moved aside, takes its quarantine file out and {leaves})"
        ". Nothing was written"
    )


def repeated_job(fs: HadoopFs, report: str, source: dict[str, Any]) -> str | None:
    """The job of the report file `report` (a table's last run) when that run recorded
    `source` as its input: every row of it is published already, and a run of it now
    counts them as duplicates (a retry of a run killed after its commit, or the same
    delivery run twice); None otherwise (no report, another input, a report of before)."""
    if not fs.exists(report):
        return None
    try:
        last = fs.read_json(report)
    except ValueError as exc:  # not compared: this run's report replaces it
        logger.warning("%s cannot be read (%s): whether this input was published before is "
                       "not known; this run's report replaces it", report, exc)  # fmt: skip
        return None
    if isinstance(last, dict) and same_input({"input": last.get("source")}, source):
        return str(last.get("job") or "?")
    return None
