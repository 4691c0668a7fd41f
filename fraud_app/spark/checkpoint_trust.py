"""Whether a checkpoint directory could hold files another local user put there.

A resume trusts its checkpoint: it continues from those weights, that optimizer state
and that data position. The seals (dlcore.serialization) are sha256 digests without a
key: they catch damage, not a forger, so what keeps another local user from swapping in
a checkpoint of their own is the file system's permissions. Files the store writes are
0600 and its directories follow the umask, which is enough unless the directory was
made by someone else (a shared path another user created first) or opened to everyone.

Owns `check_private(directory)`, run before a resume reads anything: refused, with a
TrainingError naming the path and the remedy, when the directory or anything in it is
owned by another user than this process's (root excepted) or writable by every user
(o+w), or when a parent directory is writable by every user without the sticky bit
(anyone could rename the checkpoint directory away and put their own in its place).
A symlink on the way is followed: the folders of the path as given and of the path it
resolves to are checked (a link's own mode is always 0777 and says nothing; the folder
holding it decides who could replace it), and the directory checked is the link's target.
Group-writable entries are allowed: a team's group (or a umask of 002) is a choice.
Does not own reading the checkpoint (checkpoint.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fraud_app.errors import TrainingError

_WHY = (
    "another local user could have replaced the checkpoint this run would resume from "
    "(its seals catch damage, not a forger)"
)


def check_private(directory: Path) -> None:
    """TrainingError if another local user could have written what a resume reads."""
    uid = os.geteuid()
    given, real = Path(os.path.abspath(directory)), Path(os.path.realpath(directory))
    for parent in dict.fromkeys([*given.parents, *real.parents]):
        mode = _lstat(parent).st_mode
        if stat.S_ISLNK(mode):  # a link's mode is 0777; its folder and target are checked
            continue
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            raise TrainingError(
                f"checkpoint directory {directory}: its parent {parent} is writable by every "
                f"user (mode {stat.S_IMODE(mode):04o}, no sticky bit): {_WHY}. Use a "
                "checkpoint directory under a parent only you can write to, or "
                f"`chmod o-w {parent}` (or +t)"
            )
    for path in (real, *sorted(real.rglob("*"))):
        st = _lstat(path)
        if st.st_uid not in (uid, 0):
            raise TrainingError(
                f"checkpoint {path} is owned by uid {st.st_uid}, not by this process's user "
                f"(uid {uid}): {_WHY}. Use a checkpoint directory of your own "
                "(paths.checkpoints; an estimator's checkpointDir) or, if the files "
                f"are yours, `chown -R {uid} {directory}`"
            )
        if st.st_mode & stat.S_IWOTH and not stat.S_ISLNK(st.st_mode):
            raise TrainingError(
                f"checkpoint {path} is writable by every user (mode "
                f"{stat.S_IMODE(st.st_mode):04o}): {_WHY}. Run `chmod -R o-w {directory}`, "
                "or use a new checkpoint directory to start over"
            )


def _lstat(path: Path) -> os.stat_result:
    try:
        return path.lstat()
    except OSError as exc:
        raise TrainingError(f"cannot check who may write checkpoint path {path}: {exc}") from exc
