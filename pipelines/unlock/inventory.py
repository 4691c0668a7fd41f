"""What `fraud-app unlock` finds: every lock and commit marker under the configured paths,
who holds it and whether this host can judge that holder.

Owns finding and judging (read only: a listing changes nothing); clearing is
pipelines.unlock.clear's. The judgement is the one the writers apply themselves
(fraud_app.etl.lock.liveness for a lock file's record, fraud_app.etl.partition_swap._marker
for a commit marker), so `unlock` never calls dead what a run would refuse, nor the
reverse. Kinds:

    run lock            <paths.root>/.fraud-app.lock: etl, labels, features (RootLock)
    prune lock          <paths.root>/.fraud-app-prune.lock
    run-name lock       <paths.models>/.<run>.lock: one `train --run <run>` at a time;
                        <paths.reports>/.tune-<run>.lock: one `tune --run <run>` at a time
    scoring lock        <scores output>/.fraud-app.lock: one `score` job per output
    checkpoint lock     <paths.checkpoints>/<run>/[setup-*/].training.lock
    commit marker       <table>/_staging/<job>/_committing.json (and `_killed.json`,
                        `_abandoned.json`): the canonical and feature tables
    tracking store lock <db>.lock of a sqlite store, and the readers' registrations
                        <paths.root>/.fraud-app.readers/*.json: flocks, which the kernel
                        drops when their process ends however it ends; listed with the
                        process holding them (/proc/locks), never stuck, never cleared
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dlcore.processes import is_pid, pid_alive
from fraud_app.config import AppConfig
from fraud_app.etl.lock import LOCK_NAME, liveness
from fraud_app.etl.readers import READERS_DIR
from fraud_app.uris import local_path

# state -> does a scheduler need an operator (`--force`) before the step can run again
STATES = {
    "alive": False,  # its holder runs: wait for it
    "dead": False,  # its holder is gone: the next run takes it over (or `--force` now)
    "killed": False,  # a killed job's marker: the next run of its step recovers the table
    "unknown": True,  # this host cannot tell whether its holder runs: refused until cleared
    "unreadable": True,  # the record cannot be read: refused until cleared
    "free": False,  # a flock no process holds
}


@dataclass
class Found:
    """One lock or marker: `kind` (module docstring), `path`, `guards` (what it is for),
    `holder` (the record as written: pid, host, process_start, started_at, command),
    `state` (STATES), `reason` (what decided), `on_clear` (what `--force` does and what the
    next run then does)."""

    kind: str
    path: str
    guards: str
    state: str
    reason: str
    on_clear: str
    holder: dict = field(default_factory=dict)
    age_s: float | None = None
    force: bool | None = None  # needs --force, where not the state's (STATES)

    @property
    def needs_force(self) -> bool:
        return STATES[self.state] if self.force is None else self.force

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "force"}
        return {**out, "needs_force": self.needs_force}


def age(started_at: object) -> float | None:
    """Seconds since `started_at` (owner_info's UTC ISO time); None when not a time."""
    try:
        then = dt.datetime.fromisoformat(str(started_at))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return round((dt.datetime.now(dt.UTC) - then).total_seconds(), 1)


def judge_lock_file(path: Path) -> tuple[str, str, dict, str]:
    """(state, reason, record, the file's text) of a RootLock file, as RootLock judges it
    when it finds the file: unreadable (not a JSON object with pid and host, a symbolic
    link to nothing, a directory: refused as "not a lock record"), or `liveness`'s answer."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if path.is_symlink():  # RootLock refuses every run for it (lock_text.not_a_lock)
            return "unreadable", f"a symbolic link to {os.readlink(path)}, which is not " \
                "there", {}, ""  # fmt: skip
        return "gone", "released meanwhile", {}, ""
    except IsADirectoryError:
        return "unreadable", "a directory, not a lock file", {}, ""
    text = raw.decode("utf-8", errors="replace")  # as remove_unchanged reads it
    try:
        holder = json.loads(text)
        int(holder["pid"]), str(holder["host"])
    except (ValueError, KeyError, TypeError):
        what = f"{len(raw)} bytes" if text.strip() else "empty"
        return "unreadable", f"not a lock record ({what})", {}, text
    alive, reason = liveness(holder)
    state = {True: "alive", False: "dead", None: "unknown"}[alive]
    return state, reason, holder, text


LOCK_CLEAR = (
    "the lock file is moved into the audit folder; the next `{command}` takes the lock "
    "(a run of the holder that still went on would then share the output with it)"
)


def _lock(kind: str, path: Path, guards: str) -> Found | None:
    if not path.exists() and not path.is_symlink():  # a link to nothing, a directory: listed
        return None  # (they refuse every run; they were not listed, `unlock` exit 0: review43a)
    state, reason, holder, _ = judge_lock_file(path)
    if state == "gone":
        return None
    if state == "unknown" and holder.get("host") == socket.gethostname():
        here = holder_pid_here(holder)  # a hint for the operator, not a judgement
        if here is not None:
            reason += (f"; pid {holder['pid']} {'runs' if here else 'does not run'} in this "
                       "process's PID namespace now")  # fmt: skip
    command = str(holder.get("command") or "fraud-app").split(" --")[0]
    return Found(kind, str(path), guards, state, reason,
                 LOCK_CLEAR.format(command=f"fraud-app {command}".replace("fraud-app fraud-app",
                                                                          "fraud-app")),
                 holder, age(holder.get("started_at")))  # fmt: skip


def lock_files(config: AppConfig) -> list[Found]:
    """The RootLock files of this config (module docstring), each judged."""
    from pipelines.prune import PRUNE_LOCK

    root, paths = lock_dir(config.paths.driver_root()), config.paths
    found = [
        _lock("run lock", root / LOCK_NAME, "one writer of paths.root's tables (etl, labels, "
              "features)"),
        _lock("prune lock", root / PRUNE_LOCK, "one `fraud-app prune` at a time"),
    ]  # fmt: skip
    models = paths.local("models")
    if models is not None and models.is_dir():
        for lock in sorted(models.glob(".*.lock")):
            run = lock.name[1 : -len(".lock")]
            found.append(_lock("run-name lock", lock, f"one `train --run {run}` at a time"))
    reports = paths.local("reports")
    if reports is not None and reports.is_dir():
        for lock in sorted(reports.glob(".tune-*.lock")):
            run = lock.name[len(".tune-") : -len(".lock")]
            found.append(_lock("run-name lock", lock, f"one `tune --run {run}` at a time"))
    scores = local_path(config.scores_output()[0])
    if scores is not None:
        found.append(_lock("scoring lock", scores / LOCK_NAME, "one `score` job per output"))
    checkpoints = paths.local("checkpoints")
    if checkpoints is not None and checkpoints.is_dir():
        from fraud_app.spark.grouped import CHECKPOINT_LOCK  # imports pyspark: only here

        for lock in sorted([*checkpoints.glob(f"*/{CHECKPOINT_LOCK}"),
                            *checkpoints.glob(f"*/*/{CHECKPOINT_LOCK}")]):  # fmt: skip
            found.append(_lock("checkpoint lock", lock, "one training run per checkpoint "
                               f"folder ({lock.parent})"))  # fmt: skip
    return [f for f in found if f is not None]


def lock_dir(root: str) -> Path:
    """paths.root as the runs lock it: a plain path or a `file:` URI (RootLock's rule; a
    `file:///x` root was looked for as the relative folder `file:/x`, so `unlock` listed
    nothing while every run was refused for its lock). A remote root is refused as the
    runs refuse it: no run locks it, and the audit folder needs a local directory."""
    from fraud_app.etl.lock import _local_path

    return _local_path(str(root))


def flock_holders() -> dict[int, list[int]] | None:
    """inode -> pids holding a flock on it (Linux /proc/locks); None where not readable."""
    try:
        lines = Path("/proc/locks").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    held: dict[int, list[int]] = {}
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF" ("1: -> FLOCK ...":
        # a process waiting for it, not holding it)
        if len(parts) >= 8 and parts[1] == "FLOCK" and parts[-3].count(":") == 2:
            pid, inode = parts[-4], parts[-3].rsplit(":", 1)[1]
            if pid.lstrip("-").isdigit() and inode.isdigit():
                held.setdefault(int(inode), []).append(int(pid))
    return held


def _flock(kind: str, path: Path, guards: str, held: dict | None, record: dict) -> Found:
    never = ("never cleared: the kernel releases a flock when its process ends, however it "
             "ends (deleting the file would let a second process lock a new file beside it)")  # fmt: skip
    if held is None:
        return Found(kind, str(path), guards, "free", "this system does not list flocks "
                     "(/proc/locks): not checked", never, record)  # fmt: skip
    pids = held.get(path.stat().st_ino, [])
    if not pids:
        return Found(kind, str(path), guards, "free", "no process holds it", never, record)
    return Found(kind, str(path), guards, "alive",
                 f"held by pid {', '.join(map(str, sorted(set(pids))))} (/proc/locks)",
                 never, record, age(record.get("started_at")))  # fmt: skip


def flocks(config: AppConfig, store_lock_path: Path | None) -> list[Found]:
    """The tracking store's lock and the readers' registrations, with who holds them."""
    held, found = flock_holders(), []
    if store_lock_path is not None and store_lock_path.is_file():
        found.append(_flock("tracking store lock", store_lock_path, "the sqlite store's "
                            "migrations and promotion gates", held, {}))  # fmt: skip
    readers = lock_dir(config.paths.driver_root()) / READERS_DIR
    if readers.is_dir():
        for entry in sorted(readers.glob("*.json")):
            try:
                record = json.loads(entry.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                record = {}
            record = record if isinstance(record, dict) else {}
            found.append(_flock("reader registration", entry, f"a reader of the "
                                f"{record.get('table', '?')} table: writers wait for it", held,
                                record))  # fmt: skip
    return found


MarkerReader = Callable[[str], list[Found]]


def inventory(config: AppConfig, store_lock_path: Path | None,
              markers: MarkerReader | None) -> list[Found]:  # fmt: skip
    """Every lock and marker of `config` (`markers`: the commit markers' reader, None when
    no table holds staging: pipelines.unlock.markers)."""
    found = lock_files(config) + flocks(config, store_lock_path)
    if markers is not None:
        for table in (config.etl_tables()[0], config.feature_table()):
            found += markers(table)
    return found


def staged(table: str) -> bool | None:
    """Whether a local `table` has a staging folder with a commit marker in it (None: not a
    local path, so only Hadoop can say)."""
    from fraud_app.etl.partition_swap import ABANDONED, COMMITTING, KILLED, STAGING

    path = local_path(table)
    if path is None:
        return None
    staging = path / STAGING
    return staging.is_dir() and any(
        (job / name).exists()
        for job in staging.iterdir() if job.is_dir()
        for name in (COMMITTING, KILLED, ABANDONED)
    )  # fmt: skip


def holder_pid_here(holder: dict) -> bool | None:
    """Whether the record's pid names a process in this PID namespace now (a hint for the
    operator of a record `liveness` cannot judge: it may be another process's pid)."""
    pid = holder.get("pid")
    if not is_pid(pid):  # 0, negative, past pid_t (OverflowError out of os.kill): no pid
        return None
    return pid_alive(pid)
