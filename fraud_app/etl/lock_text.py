"""What the run lock (fraud_app.etl.lock) tells an operator where it cannot name a live
or dead holder: where to check the holder, and a lock file that holds no record. Pure:
the lock module passes in what it read from this host."""

from __future__ import annotations

from pathlib import Path


def check_hint(info: dict, this_host: str, here_ns: str | None, init_ns: str) -> str:
    """Where an operator checks whether the holder `info` (lock.owner_info) runs: `ps -p
    <pid>` on its host, in the PID namespace it ran in (`here_ns`: this process's; `init_ns`:
    the machine's own). `ps` in a container lists that container's processes only: a live
    holder of the machine's own namespace or of another container looked gone there, and
    the refusal said only "on host vm: `ps -p N`" (session 43)."""
    pid, host, ns = info.get("pid"), info.get("host"), info.get("pid_ns")
    if host != this_host or here_ns is None or ns == here_ns:
        return f"on host {host}: `ps -p {pid}`"
    if ns == init_ns:
        where = "on the machine itself, outside any container"
    elif ns:
        where = f"in the container of PID namespace {ns}"
    elif info.get("process_start") and here_ns != init_ns:  # sessions 38-39: runs_nowhere
        where = ("in the PID namespace it ran in (not recorded; a run or `fraud-app unlock` on "
                 "the machine itself, outside any container, takes it over if its pid is gone)")  # fmt: skip
    else:  # before session 38 (no start time: maybe another machine of this name)
        where = "in the PID namespace it ran in (not recorded)"
    return (f"on host {host}, {where}: `ps -p {pid}` there (a pid is its namespace's own: "
            "`ps` here may show another process of that number, or none)")  # fmt: skip


def not_a_lock(path: Path, what: str, way_out: str) -> str:
    """The refusal of a lock file that holds no record (`what`), with `way_out`. No run of
    a release since session 40 leaves one (a lock is written whole, then linked into
    place): an older release's run killed while writing it, or a damaged file. Before
    (session 43), it read "an unreadable lock file holds the lock ... (on host ?: `ps -p
    ?`)", and bytes that are not UTF-8 stopped the command with a traceback."""
    return (
        f"the lock file {path} is {what}: it names no run, so this host cannot tell whether "
        f"another fraud-app command writes to {path.parent} (a run killed while a release "
        "before session 40 wrote its lock, or a damaged file). Check that none does, then "
        f"{way_out}, and run this command again."
    )


def folder_held(path: Path, waited_s: float) -> str:
    """The refusal when the flock of the lock's folder, which every remover of a stale
    lock takes for a read and an unlink, stayed held `waited_s`: not by fraud-app."""
    return (
        f"could not remove the stale lock {path}: another process has held a flock on its "
        f"folder {path.parent} for {waited_s:g} s (fraud-app holds it only while it removes a "
        f"stale lock, for milliseconds): a wrapper such as `flock {path.parent} fraud-app "
        "...`? Nothing was removed. Let such a wrapper lock a file instead (`flock "
        f"{path.parent}/.cron.lock ...`), or end that process, and run this command again."
    )
