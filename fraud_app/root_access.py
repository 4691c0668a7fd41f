"""Who besides this user can reach paths.root: the same rule for the CLI and the Python API.

Under paths.root go the tables with card ids (canonical, features, scores), the tracking
store, models and checkpoints. Owns `make_root` (a root that does not exist is created
0700; one that cannot be created or written is an EnvironmentSetupError) and
`check_root_access`, which `load_config` runs for every caller (a notebook as much as the
CLI, which also runs `make_root` first):

- a root every user may write (o+w without the sticky bit) that every user can reach is
  refused: anyone could rename its tables or models away and put their own in place;
- a root other users may enter or list (o+r / o+x) that every user can reach: one WARNING
  per process, naming the root and its mode (fraud-app's own Spark tables, models and
  checkpoints are written private, but whatever follows the umask under it is readable).

"Can reach": every folder above the root lets others through (o+x); a 0755 root inside a
0700 home is private. A root that exists keeps its mode (0750 for a team's group is a
choice, and says nothing). Remote roots (hdfs:, s3a:) are left to their store. Does not
own the modes Spark writes with (fraud_app.spark.session's umask-mode).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from fraud_app.errors import EnvironmentSetupError
from fraud_app.uris import local_path, unwritable

logger = logging.getLogger(__name__)

_warned: set[tuple[str, int]] = set()  # (root, mode) already named in this process


def make_root(root: str, setting: str = "paths.root") -> None:
    """Create a local paths.root that does not exist 0700 (its parents as `mkdir -p`);
    EnvironmentSetupError when it is not a directory this user can write."""
    path = local_path(root)
    if path is None:  # hdfs:/x as much as hdfs://nn/x (fraud_app.uris)
        return
    with contextlib.suppress(OSError):  # if this fails, `unwritable` says why
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
    exc = unwritable(path)
    if exc is not None:
        raise EnvironmentSetupError(
            f"{setting} {root!r} is not a writable directory ({exc.strerror or exc}); set "
            f"{setting} in the config to a directory you can write"
        ) from exc


def check_root_access(root: str, setting: str = "paths.root") -> None:
    """EnvironmentSetupError for a root every local user may write; one WARNING for one
    they may enter or list (see the module doc). Nothing for a root not there yet."""
    path = local_path(root)
    if path is None:
        return
    real = Path(os.path.realpath(path))
    try:
        mode = real.stat().st_mode
    except OSError:
        return  # made 0700 by the CLI, or by Spark's first write (umask-mode 077)
    if not stat.S_ISDIR(mode) or not _reachable(real):
        return
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        raise EnvironmentSetupError(
            f"{setting} {root!r} is writable by every user (mode {stat.S_IMODE(mode):04o}, no "
            "sticky bit): another local user could replace its tables and models with their "
            f"own. Run `chmod o-w {real}` (or 700), or set {setting} to a directory only you "
            "can write"
        )
    key = (str(real), stat.S_IMODE(mode))
    if mode & (stat.S_IROTH | stat.S_IXOTH) and key not in _warned:
        _warned.add(key)
        logger.warning(
            "%s %s is mode %04o and every folder above it lets other users through: "
            "any local user can %s it. fraud-app writes its Spark tables, models and "
            "checkpoints private (0600), but mlflow.db, the reports and anything else "
            "written with your umask are theirs to read. `chmod o-rwx %s` makes it private "
            "(a team's group keeps what g+rx gives it)",
            setting, root, stat.S_IMODE(mode), "list and enter" if mode & stat.S_IROTH else "enter",
            real,
        )  # fmt: skip


def _reachable(path: Path) -> bool:
    """Whether every folder above `path` lets other users through (o+x)."""
    for parent in path.parents:
        try:
            if not parent.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True
