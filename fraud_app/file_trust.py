"""Whether a directory this process is about to trust could hold another local user's files.

A checkpoint (resumed from) and a saved model (scored with) are sealed by sha256 digests
without a key (dlcore.serialization): the seals catch damage, not a forger, so what keeps
another local user from swapping in weights of their own is the file system's permissions.
The files fraud-app writes are 0600 (mkstemp) and its directories follow the umask, which
is enough unless the directory was made by someone else (a shared path another user
created first, a model cache under /tmp) or opened to everyone.

Owns `check_private(directory, trust)`: an error of `trust.error`, naming the path and the
remedy, when the directory or anything in it is owned by another user than this process's
(root excepted) or writable by every user (o+w), or when a parent directory is writable by
every user without the sticky bit (anyone could rename the directory away and put their
own in its place). A symlink on the way is followed: the folders of the path as given and
of the path it resolves to are checked (a link's own mode is always 0777 and says nothing;
the folder holding it decides who could replace it), and the directory checked is the
link's target; a link inside it is checked as its target is, with the target's folders (a
DVC or git-annex checkout, a file linked to a team's cache: what is read is the target).
Group-writable entries are allowed: a team's group (or a umask of 002) is a
choice. Does not own what is trusted (fraud_app.spark.checkpoint_trust for checkpoints,
fraud_app.models.ensemble for models) nor reading it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Trust:
    """What is trusted, in the words of the error: `kind` ("checkpoint", "model"), `why`
    (what a forger could do), `yours` (where a directory of one's own is configured) and
    `fresh` (the way to start over without the opened files)."""

    kind: str
    why: str
    yours: str
    fresh: str
    error: type[Exception]
    owners: bool = True  # False: another user's files pass (a team registry's model)


def check_private(directory: Path, trust: Trust, _seen: set[Path] | None = None) -> None:
    """trust.error if another local user could have written what is read from `directory`."""
    uid = os.geteuid()
    given, real = Path(os.path.abspath(directory)), Path(os.path.realpath(directory))
    seen = set() if _seen is None else _seen
    if real in seen:  # a target two links share, or a link back into the tree
        return
    seen.add(real)
    for parent in dict.fromkeys([*given.parents, *real.parents]):
        mode = _lstat(parent, trust).st_mode
        if stat.S_ISLNK(mode):  # a link's mode is 0777; its folder and target are checked
            continue
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            raise trust.error(
                f"{trust.kind} directory {directory}: its parent {parent} is writable by every "
                f"user (mode {stat.S_IMODE(mode):04o}, no sticky bit): {trust.why}. Use a "
                f"{trust.kind} directory under a parent only you can write to, or "
                f"`chmod o-w {parent}` (or +t)"
            )
    for path in (real, *sorted(real.rglob("*"))):
        st = _lstat(path, trust)
        if trust.owners and st.st_uid not in (uid, 0):
            raise trust.error(
                f"{trust.kind} {path} is owned by uid {st.st_uid}, not by this process's user "
                f"(uid {uid}): {trust.why}. Use a {trust.kind} directory of your own "
                f"({trust.yours}) or, if the files are yours, `chown -R {uid} {directory}`"
            )
        if st.st_mode & stat.S_IWOTH and not stat.S_ISLNK(st.st_mode):
            raise trust.error(
                f"{trust.kind} {path} is writable by every user (mode "
                f"{stat.S_IMODE(st.st_mode):04o}): {trust.why}. Run `chmod -R o-w {directory}`, "
                f"or {trust.fresh}"
            )
        if stat.S_ISLNK(st.st_mode):  # what is read is its target: checked as the directory
            check_private(path, trust, seen)


def _lstat(path: Path, trust: Trust) -> os.stat_result:
    try:
        return path.lstat()
    except OSError as exc:
        raise trust.error(f"cannot check who may write {trust.kind} path {path}: {exc}") from exc
