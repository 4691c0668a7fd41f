"""Clearing one lock or commit marker on an operator's word (`fraud-app unlock --force`).

Owns checking again right before clearing, the clearing itself and its record; the
inventory is pipelines.unlock.inventory's. Every clearing is logged (WARNING) and written
to an audit file `<paths.root>/.fraud-app-unlock/<UTC time>-<pid>.json` (what, who held
it, why it was judged so, who cleared it, when, and what was done), beside a copy of
every file it moved away, never silently.

    lock file       dead / unknown / unreadable: moved into the audit folder (a rename: a
                    run that takes the lock meanwhile keeps its own); alive: refused unless
                    `--even-if-alive`
    commit marker   unknown: renamed to `_killed.json` beside it; unreadable (canonical
                    table): the marker and the `_files.json` records of the table, its
                    quarantine and its label ledger copied into the audit folder, then
                    deleted; alive: refused unless `--even-if-alive`; killed:
                    nothing to clear (the next run of its step recovers it)
    flock           never: the kernel releases it when its holder ends
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path

from fraud_app import jsonout
from fraud_app.errors import ConcurrentRunError, ConfigError
from fraud_app.etl.lock import owner_info, remove_unchanged
from fraud_app.uris import local_path
from pipelines.unlock.inventory import Found, judge_lock_file, lock_dir

logger = logging.getLogger(__name__)

AUDIT_DIR = ".fraud-app-unlock"


def audit_dir(root: str) -> Path:
    """`<paths.root>/.fraud-app-unlock` (a `file:` root as its local path; a remote one
    refused: pipelines.unlock.inventory.lock_dir)."""
    return lock_dir(root) / AUDIT_DIR


def _refuse_alive(found: Found, even_if_alive: bool) -> None:
    if found.state == "alive" and not even_if_alive:
        raise ConcurrentRunError(
            f"{found.path}: {found.kind} held by a running process ({found.reason}); nothing "
            "was cleared. Wait for it to finish; to clear it anyway (that process then shares "
            "what the lock guards with the next run), add --even-if-alive"
        )


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _record(root: str, found: Found, action: str, moved: list[str], reason: str) -> Path:
    """Write the audit file of one clearing; its path."""
    folder = audit_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    by = {**owner_info(), "user": _user(), "command": "fraud-app unlock --force"}
    record = {"format": 1, "cleared": found.path, "kind": found.kind, "guards": found.guards,
              "state": found.state, "judged": found.reason, "held_by": found.holder,
              "age_s": found.age_s, "action": action, "moved_to": moved, "reason": reason,
              "cleared_by": by, "at": by["started_at"]}  # fmt: skip
    path = folder / f"{_stamp()}-{os.getpid()}.json"
    jsonout.write_atomic(path, jsonout.dumps(record, indent=2, default=str))
    logger.warning("unlock: cleared %s %s (%s, held by %s; judged %s: %s): %s; recorded in %s",
                   found.kind, found.path, found.state, _who(found.holder), found.state,
                   found.reason, action, path)  # fmt: skip
    return path


def _user() -> str:
    """Who cleared it, for the audit record: the account of this process ("?" when the
    system cannot say; environment variables are fraud_app.settings' to read)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "?"


def _who(holder: dict) -> str:
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
            f"{holder.get('started_at', '?')}") if holder else "nobody readable"  # fmt: skip


def clear_lock(root: str, found: Found, even_if_alive: bool, reason: str) -> Path:
    """Move the lock file `found` into the audit folder after judging it again (the record
    it holds now, not the listing's); the audit file's path."""
    path = Path(found.path)
    state, why, holder, text = judge_lock_file(path)
    if state == "gone":
        raise ConfigError(f"{path}: the lock was released meanwhile; nothing to clear")
    found = Found(found.kind, found.path, found.guards, state, why, found.on_clear, holder,
                  found.age_s)  # fmt: skip
    _refuse_alive(found, even_if_alive)
    aside = audit_dir(root) / f"{_stamp()}-{os.getpid()}{path.name}"
    aside.parent.mkdir(parents=True, exist_ok=True)
    if not text and (path.is_symlink() or path.is_dir()):
        return _clear_no_file(root, found, path, aside, reason)
    # moved only while it still holds the record judged, under the flock every remover
    # of a stale lock takes (fraud_app.etl.lock.remove_unchanged): it renamed first and
    # linked a changed lock back, and a run that took the lock in between lost its lock
    if not remove_unchanged(path, text, aside):
        raise ConcurrentRunError(
            f"{path}: the lock was released or taken by another run while it was being "
            "cleared; nothing was cleared. Run `fraud-app unlock` again to see who holds it"
        )
    return _record(root, found, f"moved into {aside.parent}: the next run takes the lock",
                   [str(aside)], reason)  # fmt: skip


def _clear_no_file(root: str, found: Found, path: Path, aside: Path, reason: str) -> Path:
    """A lock path that holds no file (a symbolic link to nothing, a directory), which
    refuses every run: moved aside as it is (a link as a link). No run removes or replaces
    one (RootLock refuses it, and a lock cannot be created while the name is taken), so
    only a second `unlock --force` races this rename: it then finds nothing."""
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        raise ConfigError(f"{path}: cleared meanwhile; nothing to clear") from None
    return _record(root, found, f"moved into {aside.parent}: the next run takes the lock",
                   [str(aside)], reason)  # fmt: skip


def clear_marker(root: str, fs, found: Found, even_if_alive: bool, reason: str,
                 relisted: list[Found], quarantine: str | None = None) -> Path:  # fmt: skip
    """Clear the commit marker `found` as the module docstring says, after judging it
    again (`relisted`: the table's markers read now); the audit file's path. An
    unreadable one takes the records of the table, its `quarantine` and its label ledger
    with it: the killed run may have moved its files into each (review41a: with only the
    table's moved, the next run was refused for the quarantine, then for the ledger)."""
    from fraud_app.etl.ledger import LEDGER
    from fraud_app.etl.partition_swap import KILLED, STAGING

    now = next((f for f in relisted if f.path == found.path), None)
    if now is None:
        raise ConfigError(f"{found.path}: the marker is gone meanwhile; nothing to clear")
    _refuse_alive(now, even_if_alive)
    if now.state == "killed" or (not now.needs_force and now.state != "alive"):
        raise ConfigError(f"{now.path}: nothing to clear ({now.state}: {now.reason}); "
                          f"{now.on_clear.removeprefix('nothing to clear: ')}")  # fmt: skip
    if now.state in ("unknown", "alive"):
        target = f"{now.path.rsplit('/', 1)[0]}/{KILLED}"
        if fs.exists(target):
            raise ConfigError(f"{target} exists already; nothing was cleared")
        fs.rename(now.path, target)
        return _record(root, now, f"renamed to {target}: {now.on_clear}", [target], reason)
    table = now.path.rsplit(f"/{STAGING}/", 1)[0]
    moved = []
    stamp = f"{_stamp()}-{os.getpid()}"
    records = [f"{table}/_files.json", f"{table}/{LEDGER}/_files.json"]
    if quarantine is not None:
        records.append(f"{quarantine.rstrip('/')}/_files.json")
    for source in (now.path, *records):
        if not fs.exists(source):
            continue
        folder, name = source.rsplit("/", 2)[1:]
        # the three records share a name: each copy named by its folder too
        copy = audit_dir(root) / f"{stamp}-{folder + '-' if source in records else ''}{name}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(fs.read_bytes(source))
        fs.delete(source)
        moved.append(str(copy))
    return _record(root, now, f"copied into the audit folder and deleted: {now.on_clear}",
                   moved, reason)  # fmt: skip


def read_audit(root: str) -> list[dict]:
    """The audit records under `root`, oldest first (what `unlock` cleared before)."""
    folder = audit_dir(root)
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "cleared" in record:  # not a copy kept beside it
            out.append(record)
    return out


def same_path(given: str, listed: str) -> bool:
    """Whether the `--force` argument names the listed path (as listed, or the same local
    file through another spelling: relative, `file:`)."""
    if given == listed:
        return True
    a, b = local_path(given), local_path(listed)
    return a is not None and b is not None and a.resolve() == b.resolve()
