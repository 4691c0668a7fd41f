"""Date partitions of a table, each written to a staging path and swapped in.

    <output>/event_date=YYYY-MM-DD/part-*.parquet      what readers see
    <output>/_staging/<job>/new/event_date=.../        the job writes here first
    <output>/_staging/<job>/old/event_date=.../        the replaced partition, until swapped

Used by the scoring job (fraud_app.scoring.job) and by the ETL's `etl.mode: append`
(fraud_app.etl.publish). Spark and pyarrow skip `_` paths, so a reader of <output> never
sees staging. A swap is two renames (final -> old, new -> final), each atomic on a local
disk or HDFS: a re-run replaces a date, and a job killed before its swaps leaves every
previous partition as it was. A kill between the two renames of one date leaves that
date only in `old`; `recover` (run at the start of every job, under the output's lock)
moves it back and removes dead jobs' staging.

A job that swaps several dates as one change (the ETL's append: one delivery) first writes
`_staging/<job>/_committing.json` (pid, host, process_start, pid_ns, started_at, dates:
fraud_app.etl.lock.owner_info). Killed inside its swaps, it leaves a table where some dates
hold the delivery and others not, and one date maybe only in `old`: `interrupted` finds
that, so that a reader refuses the table until the writer runs again
(fraud_app.etl.table_read.read_table), instead of reading a date short. Whose marker it is decides
(fraud_app.etl.lock.liveness):

    this host, process running      a live job: readers go on (it finishes or recovers)
    this host, process gone         killed: readers refuse; the next run recovers it
    another host                    this host cannot tell whether that driver still runs:
                                    readers and the next run refuse, naming the host, pid
                                    and start, and the way out: run `fraud-app etl` again
                                    on that host (it checks the pid there), or, once the
                                    operator knows that run is gone, rename the marker to
                                    `_killed.json`, which every host then
                                    treats as a killed job's
    `_killed.json`                  killed (an operator said so): as "process gone"
    `_abandoned.json`               killed, its input gone for good (an operator said so):
                                    as "process gone", and any run's takeover is allowed
    a marker that cannot be read    not JSON, fields a decision reads of the wrong type,
                                    a newer `format` (`_problem`): which dates it swapped
                                    and from which input is unknown, so readers and the
                                    next writer refuse, naming it and the ways out
                                    (`unreadable`); a `features` run rebuilds the table

A partition only in an `old` area without any marker is a killed job's too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket

from fraud_app.errors import ConcurrentRunError, DataIntegrityError
from fraud_app.etl.fs import HadoopFs, partition_dates
from fraud_app.etl.lock import holder_alive, liveness, owner_info
from fraud_app.interrupts import critical
from fraud_app.schema import PARTITION_COLUMN

logger = logging.getLogger(__name__)

STAGING = "_staging"
COMMITTING = "_committing.json"
KILLED = "_killed.json"  # a marker an operator renamed: that job is known to be gone
# a killed job's marker an operator renamed because its input is gone for good: killed, and
# the next run of any input takes its change over (fraud_app.etl.commit_source)
ABANDONED = "_abandoned.json"
# a killed label feed run (fraud_app.etl.labels): its own re-run recovers and finishes it
LABELS_HINT = " (a `fraud-app labels` run: run it again on the same feed)"


def partition_name(day: dt.date | str) -> str:
    return f"{PARTITION_COLUMN}={day}"


class PartitionSwap:
    def __init__(self, fs: HadoopFs, output: str, job_id: str) -> None:
        self.fs, self.output = fs, output.rstrip("/")
        self.job, self.root = job_id, f"{self.output}/{STAGING}/{job_id}"
        self.new, self.old = f"{self.root}/new", f"{self.root}/old"

    def recover(self, *, keep_own: bool = False) -> list[str]:
        """Restore partitions a killed job left only in its `old` area; drop dead staging.

        Call before this job writes anything, under the output's lock: every staging area
        then is a dead job's, this job's own name too (a scheduler's retry of a killed job
        with the same `--job-id`: its staging was skipped, so the retry's write met the
        killed run's `new` and stopped with Spark's PATH_ALREADY_EXISTS, and its clean-up
        deleted the killed run's `old`, the only copy of a date caught between renames).
        `keep_own`: this job's own staging holds what it wrote already (the marker it took
        over from a killed job: AppendPublish), not a dead job's."""
        restored = []
        staging = f"{self.output}/{STAGING}"
        for job, is_dir in self.fs.list_dir(staging):
            if not is_dir:
                continue
            old = f"{staging}/{job}/old"
            for name, _ in self.fs.list_dir(old):
                final = f"{self.output}/{name}"
                if not self.fs.exists(final):
                    self.fs.rename(f"{old}/{name}", final)
                    restored.append(name)
                    logger.warning("restored %s left behind by interrupted job %s", final, job)
            if not (keep_own and job == self.job):
                self.fs.delete(f"{staging}/{job}")
        return restored

    def written_dates(self) -> list[str]:
        return sorted(partition_dates(self.fs, self.new))

    def swap(self, day: str) -> str:
        name = partition_name(day)
        final = f"{self.output}/{name}"
        with critical():  # a SIGTERM waits for the second rename (fraud_app.interrupts)
            if self.fs.exists(final):
                self.fs.mkdirs(self.old)
                self.fs.rename(final, f"{self.old}/{name}")
            self.fs.rename(f"{self.new}/{name}", final)
        return final

    def undo(self, days: list[str]) -> list[str]:
        """Take this (killed) job's swapped-in `days` back out: each swap undone
        (final -> `new`, `old` -> final; a date the table lacked before has no `old`), so
        the table is the one the job committed over; the dates taken out. A date is swapped
        in iff it is gone from `new` (its marker, which names `days`, is written after the
        write of every date there completed; a `new` that is gone: nothing to undo into),
        and every step leaves a state a swap can be in, so an undo killed part-way is
        finished by the next. Not `new/_SUCCESS`: a cluster that sets
        mapreduce.fileoutputcommitter.marksuccessfuljobs false writes none, and the retry
        kept the killed run's dates (docs/PROBES.md, session 39 review)."""
        if not self.fs.exists(self.new):
            return []
        undone = []
        for day in reversed(days):
            name = partition_name(day)
            new, old, final = f"{self.new}/{name}", f"{self.old}/{name}", f"{self.output}/{name}"
            with critical():
                if not self.fs.exists(new) and self.fs.exists(final):
                    self.fs.rename(final, new)
                    undone.append(day)
                if self.fs.exists(old) and not self.fs.exists(final):
                    self.fs.rename(old, final)
        return undone

    def remove(self, day: str) -> None:
        """Take the partition of `day` out of the table (into `old`, until cleanup): a date
        the job's input no longer holds."""
        name = partition_name(day)
        self.fs.mkdirs(self.old)
        self.fs.rename(f"{self.output}/{name}", f"{self.old}/{name}")

    def mark_committing(
        self, days: list[str], source: dict | None = None, extra: list[str] | None = None
    ) -> None:
        """Record that this job starts swapping `days` in as one change (module docstring);
        `source`: the input it publishes (fraud_app.etl.commit_source.input_identity);
        `extra`: the folders its other files go into first (the label ledger), in order:
        what the retry of a killed job takes back out (AppendPublish._roll_back)."""
        info = {"format": MARKER_FORMAT, **owner_info(), "dates": list(days),
                **({"input": source} if source else {}),
                **({"extra": list(extra)} if extra else {})}  # fmt: skip
        self.fs.write_text(f"{self.root}/{COMMITTING}", json.dumps(info))

    def clear_committing(self) -> None:
        """The change is complete (its report written): no longer a killed job's."""
        self.fs.delete(f"{self.root}/{COMMITTING}")

    def cleanup(self, *, keep_marker: bool = False) -> None:
        """Remove this job's staging; `keep_marker`: all but its commit marker (the table
        stays half-updated, so readers must go on refusing it)."""
        if keep_marker:
            for name, _ in self.fs.list_dir(self.root):
                if name not in (COMMITTING, KILLED):
                    self.fs.delete(f"{self.root}/{name}")
            return
        self.fs.delete(self.root)
        staging = f"{self.output}/{STAGING}"
        if not self.fs.list_dir(staging):
            self.fs.delete(staging)


# the markers' format: 1 (session 40) adds `format`; markers without one (sessions 36-39)
# read as 1. A newer one is refused as unreadable: its fields may mean something else.
MARKER_FORMAT = 1
_MARKER_FIELDS = "{format, pid, host, process_start, started_at, dates, input, extra}"


def _problem(info: object) -> str | None:
    """What makes `info` other than the marker `mark_committing` writes (None: nothing).
    Its dates decide what a retry takes back out and what readers are told; its pid and
    host whether the job still runs; its input which run may take it over."""
    if not isinstance(info, dict):
        return f"a JSON {type(info).__name__}, not an object"
    version = info.get("format", MARKER_FORMAT)
    if not isinstance(version, int) or isinstance(version, bool) or version > MARKER_FORMAT:
        return f"format {version!r}: this release reads format {MARKER_FORMAT} and older"
    dates = info.get("dates")
    if not isinstance(dates, list) or not all(isinstance(d, str) for d in dates):
        return f"dates {dates!r}: not a list of dates"
    try:
        [dt.date.fromisoformat(d) for d in dates]
    except ValueError:
        return f"dates {dates!r}: not all YYYY-MM-DD"
    pid = info.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or not isinstance(info.get("host"), str):
        return f"pid {info.get('pid')!r}, host {info.get('host')!r}: not a process id and a host"
    if not isinstance(info.get("input", {}), dict):
        return f"input {info.get('input')!r}: not an object"
    extra = info.get("extra", [])
    if not isinstance(extra, list) or not all(isinstance(e, str) for e in extra):
        return f"extra {extra!r}: not a list of folders"
    return None


def unreadable(path: str, problem: str, step: str) -> str:
    """What an operator reads about a commit marker that cannot be read: the table may be
    half-updated, and which dates and which input the killed job had is unknown."""
    what = (
        f"the commit marker {path} cannot be read ({problem}; expected the JSON object "
        f"{_MARKER_FIELDS} a `fraud-app` run writes when it starts swapping dates in), so "
        "which dates that killed run swapped in, and from which input, is unknown"
    )
    if step == "features":
        return f"{what}. Run `fraud-app features`: it rebuilds a half-updated table whole"
    table = path.rsplit(f"/{STAGING}/", 1)[0]
    return (
        f"{what}. Put the marker back from a copy and run the killed step again; without "
        "one, rebuild the table (`fraud-app etl --mode replace` over every delivery), or, "
        "to keep the table as the killed run left it (some of its dates in, the rest "
        f"missing until delivered again), delete {path} and {table}/_files.json (the "
        "record of the table before that run; also the quarantine's and "
        f"{table}/_labels_ledger/_files.json, which that run may have added a file to): the "
        "next `fraud-app etl` or `labels` run puts back what the killed run moved aside and "
        f"records the table as it is then (`fraud-app unlock --force {path}` moves them all "
        "into an audit folder, kept)"
    )


def _marker(fs: HadoopFs, root: str) -> tuple[dict, str, str] | None:
    """(the marker's content, "running" | "killed" | "elsewhere" | "unreadable", its path)
    of the job staged at `root`; None: it has none (the module docstring's rule). An
    unreadable marker (`_problem`): content {"problem": why}."""
    for name, default in ((ABANDONED, "killed"), (KILLED, "killed"), (COMMITTING, None)):
        path = f"{root}/{name}"
        if not fs.exists(path):
            continue
        try:
            info = fs.read_json(path)
        except ValueError as exc:
            return {"problem": str(exc)}, "unreadable", path
        problem = _problem(info)
        if problem:
            return {"problem": problem}, "unreadable", path
        if default:
            return info, default, path
        alive = holder_alive(info)
        return info, {True: "running", False: "killed", None: "elsewhere"}[alive], path
    return None


def job_marker(fs: HadoopFs, root: str) -> tuple[dict, str, str] | None:
    """The marker of the job staged at `root`, judged as readers and writers judge it
    (`_marker`): what `fraud-app unlock` lists (pipelines.unlock.markers)."""
    return _marker(fs, root)


def _elsewhere(job: str, root: str, info: dict) -> str:
    """What an operator reads about a job whose marker this host cannot judge (`liveness`:
    another host, or this hostname's record of another PID namespace or of a release before
    session 40): why, and the way out. A record of this hostname was told to run again "on"
    this host, where the same refusal came back (review40b)."""
    host = info.get("host")
    step, what = ("labels", "feed") if job.startswith("labels-") else ("etl", "input")
    head = (
        f"job {job} was swapping in dates {', '.join(info.get('dates') or [])} on host "
        f"{host} (pid {info.get('pid')}, started {info.get('started_at')}), and this host "
        f"cannot tell whether that run still goes on ({liveness(info)[1]}). If it does, wait "
        "for it; if it was killed, "
    )
    rename = (
        f"rename {root}/{COMMITTING} to {KILLED} and run it again here: it puts back what "
        "the killed run moved and finishes the update (`fraud-app unlock --force "
        f"{root}/{COMMITTING}` renames it after checking again and records who did)"
    )
    if host == socket.gethostname():  # its pid cannot be judged from here either
        return (
            f"{head}once sure pid {info.get('pid')} is gone (`ps -p {info.get('pid')}`), {rename}"
        )
    return (
        f"{head}run `fraud-app {step}` again (the same {what}) on {host}, or, once sure that "
        f"run is gone, {rename}"
    )


def committing_jobs(fs: HadoopFs, output: str) -> list[str]:
    """The jobs killed inside their change (a marker left; call under the output's lock, so
    no live job of this host has one). ConcurrentRunError for another host's marker: that
    job may still run, and taking its change back would break it (module docstring)."""
    staging = f"{output.rstrip('/')}/{STAGING}"
    jobs = []
    for job, is_dir in fs.list_dir(staging):
        found = _marker(fs, f"{staging}/{job}") if is_dir else None
        if found and found[1] == "elsewhere":
            raise ConcurrentRunError(
                f"{output}: {_elsewhere(job, f'{staging}/{job}', found[0])}. Nothing was written"
            )
        if found:
            jobs.append(job)
    return jobs


def marker_of(fs: HadoopFs, output: str, job: str) -> tuple[str, dict]:
    """(path, content) of the marker `job` left in `output`; DataIntegrityError naming it
    when it cannot be read (`unreadable`): taking over a change whose dates and input are
    unknown would keep half a delivery without a word, or take the wrong dates back out."""
    root = f"{output.rstrip('/')}/{STAGING}/{job}"
    found = _marker(fs, root)
    if found is None:
        return f"{root}/{COMMITTING}", {}
    info, state, path = found
    if state == "unreadable":
        raise DataIntegrityError(
            f"table {output} is half-updated: {unreadable(path, info['problem'], 'etl')}. "
            "Nothing was written"
        )
    return path, info


# jobs of this process that hold a killed job's marker they took over (AppendPublish): this
# process reads the table it is finishing, which other readers must refuse meanwhile
OWN_JOBS: set[str] = set()


def _jobs(fs: HadoopFs, output: str):
    """(job, its staging root, _marker's answer) of every job staged in `output` (but this
    process's own, OWN_JOBS)."""
    staging = f"{output}/{STAGING}"
    if not fs.exists(staging):
        return []
    return [(job, f"{staging}/{job}", _marker(fs, f"{staging}/{job}"))
            for job, is_dir in fs.list_dir(staging) if is_dir and job not in OWN_JOBS]  # fmt: skip


def other_hosts(fs: HadoopFs, output: str) -> list[str]:
    """Jobs of another host inside their change of `output` (running or killed there: this
    host cannot tell): one line each, naming the host and the way out."""
    output = output.rstrip("/")
    return [_elsewhere(job, root, found[0]) for job, root, found in _jobs(fs, output)
            if found and found[1] == "elsewhere"]  # fmt: skip


def unreadable_markers(fs: HadoopFs, output: str, step: str) -> list[str]:
    """The commit markers in `output` that cannot be read (`unreadable`, one line each):
    the table may be half-updated by a run whose dates are unknown (`interrupted` cannot
    list them, and read the table as whole: docs/PROBES.md, session 40)."""
    output = output.rstrip("/")
    return [unreadable(found[2], found[0]["problem"], step) for _, _, found in _jobs(fs, output)
            if found and found[1] == "unreadable"]  # fmt: skip


def interrupted(fs: HadoopFs, output: str) -> list[str]:
    """What killed jobs left half-swapped in `output`: one line per job (its dates, the
    partitions found only in its `old`); empty when nothing is (or may still be running,
    here or on another host: `other_hosts`)."""
    output = output.rstrip("/")
    lines = []
    for job, root, found in _jobs(fs, output):
        if found and found[1] in ("running", "elsewhere", "unreadable"):
            continue  # a job still swapping (it finishes or recovers), other_hosts' or
            # unreadable_markers'
        info = found[0] if found else None
        orphans = [name for name, _ in fs.list_dir(f"{root}/old")
                   if not fs.exists(f"{output}/{name}")]  # fmt: skip
        if info is not None and (info.get("dates") or orphans):
            lines.append(
                f"job {job} (pid {info.get('pid')}, started {info.get('started_at')}) was "
                f"killed while swapping in dates {', '.join(info.get('dates') or [])}"
                + (f"; {', '.join(orphans)} only in {root}/old" if orphans else "")
                + (LABELS_HINT if job.startswith("labels-") else "")
            )
        elif orphans:
            lines.append(f"{', '.join(orphans)} only in {root}/old (job {job} was killed)")
    return lines
