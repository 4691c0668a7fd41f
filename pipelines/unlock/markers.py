"""The commit markers of a table, judged as its writers and readers judge them
(fraud_app.etl.partition_swap._marker), and what clearing one does.

A marker is what a job writes before it swaps dates into the canonical table (`etl --mode
append`, `labels`) or the feature table (`features`). What the next run does with it is
the existing code's, described here, not changed:

    killed (its process gone, or `_killed.json`)   the next `etl` / `labels` of the same
        input takes the killed run's swapped-in dates back out and publishes it whole
        (fraud_app.etl.append_publish); a run of another input is refused
        (fraud_app.etl.commit_source.check_takeover) until the killed one ran again or
        its marker is `_abandoned.json`; the next `features` rebuilds its table whole
    elsewhere (this host cannot tell)   refused by every reader and writer; cleared: renamed
        to `_killed.json` (the way partition_swap's message gives), then as killed
    unreadable                          canonical table: refused; cleared: the marker and
        the `_files.json` of the table, its quarantine and its ledger moved into the audit folder (partition_swap.unreadable's
        way out: the next `etl` / `labels` run puts back what the killed run moved aside and
        records the table as it is then); feature table: the next `features` rebuilds it
"""

from __future__ import annotations

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.lock import liveness
from fraud_app.etl.partition_swap import ABANDONED, KILLED, STAGING, job_marker
from pipelines.unlock.inventory import Found, age

GUARDS = {
    "canonical": "the canonical table's change by job {job} (dates {dates}): until it is "
    "finished or rolled back, readers refuse the table",
    "features": "the feature table's change by job {job} (dates {dates}): until the next "
    "`features` rebuilds it, readers refuse the table",
}


def _step(job: str, table_kind: str) -> str:
    if table_kind == "features":
        return "fraud-app features"
    return "fraud-app labels" if job.startswith("labels-") else "fraud-app etl --mode append"


def _next_run(job: str, table_kind: str) -> str:
    """What the next run of the writer does with a killed job's marker (module docstring)."""
    if table_kind == "features":
        return "the next `fraud-app features` rebuilds the table whole"
    if job.startswith("labels-"):
        return ("the next `fraud-app labels` on the same feed takes the killed run's change "
                "back out and applies the feed whole; another input is refused until then")  # fmt: skip
    return ("the next `fraud-app etl --mode append` on the same input takes the killed run's "
            "dates back out and publishes it whole; another input is refused until then "
            f"(or the marker renamed to {ABANDONED}: its input is gone for good)")  # fmt: skip


def _found(job: str, table_kind: str, info: dict, state: str, path: str) -> Found:
    holder = {k: info.get(k) for k in ("pid", "host", "process_start", "pid_ns", "started_at",
                                       "dates") if k in info}  # fmt: skip
    holder["command"] = _step(job, table_kind)
    guards = GUARDS[table_kind].format(job=job, dates=", ".join(info.get("dates") or []) or "-")
    then = _next_run(job, table_kind)
    if state == "running":
        return Found("commit marker", path, guards, "alive", liveness(info)[1],
                     "refused: its job still runs (it finishes or recovers the table)", holder,
                     age(info.get("started_at")))  # fmt: skip
    if state == "killed":
        why = (f"an operator renamed it ({path.rsplit('/', 1)[1]})"
               if path.endswith((KILLED, ABANDONED)) else liveness(info)[1])  # fmt: skip
        return Found("commit marker", path, guards, "killed", why,
                     f"nothing to clear: {then}", holder, age(info.get("started_at")))  # fmt: skip
    if state == "elsewhere":
        return Found("commit marker", path, guards, "unknown", liveness(info)[1],
                     f"renamed to {KILLED} (every host then reads its job as killed): {then}",
                     holder, age(info.get("started_at")))  # fmt: skip
    problem = info.get("problem", "?")
    if table_kind == "features":
        return Found("commit marker", path, guards, "unreadable", problem,
                     f"nothing to clear: {then}", holder, force=False)  # fmt: skip
    table = path.rsplit(f"/{STAGING}/", 1)[0]
    return Found("commit marker", path, guards, "unreadable", problem,
                 f"the marker and {table}/_files.json (the record of the table before that run), "
                 "with the records of its quarantine and label ledger, are moved into the audit "
                 "folder: the next `fraud-app etl` or `labels` run puts "
                 "back what the killed run moved aside and records the table as it is then (the "
                 "dates it swapped in stay, the rest missing until delivered again; without "
                 "clearing: put the marker back from a copy, or rebuild with `etl --mode "
                 "replace`)", holder)  # fmt: skip


def table_markers(fs: HadoopFs, table: str, table_kind: str) -> list[Found]:
    """The commit markers of `table` ("canonical" or "features"), each judged."""
    staging = f"{table.rstrip('/')}/{STAGING}"
    if not fs.exists(staging):
        return []
    found = []
    for job, is_dir in fs.list_dir(staging):
        marker = job_marker(fs, f"{staging}/{job}") if is_dir else None
        if marker is not None:
            info, state, path = marker
            found.append(_found(job, table_kind, info, state, path))
    return found
