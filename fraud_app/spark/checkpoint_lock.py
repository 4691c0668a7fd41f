"""One fit per checkpoint directory, among processes and among the threads of one process.

The lock file (fraud_app.etl.lock.RootLock, `.training.lock` in the checkpoint directory)
keeps a second PROCESS out, and (since session 48) a second THREAD too; before that RootLock
was re-entrant within a whole process, so a second fit in another thread (a notebook's
thread pool, a parameter sweep run concurrently with one checkpoint_dir) took it too, and
the two fits pruned and saved over each other's groups and LATEST.json. This module
refuses that second fit before the lock file is touched, with a message that names the
checkpoint directory and both fits' threads. Does not own the lock file's format or its
liveness rules (fraud_app.etl.lock).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.lock import RootLock

SETTING = "the checkpoint directory (paths.checkpoints, checkpoint_dir)"
_TRAINING: dict[str, str] = {}  # resolved checkpoint directory -> name of the thread training
_GUARD = threading.Lock()


@contextlib.contextmanager
def checkpoint_lock(directory: str, lock_name: str) -> Iterator[None]:
    """Hold `directory` for one distributed training: ConcurrentRunError when another
    thread of this process or another process trains there."""
    lock = RootLock(directory, "distributed training", lock_name, SETTING)
    key = str(lock.path.parent.resolve())
    me = threading.current_thread().name
    with _GUARD:
        holder = _TRAINING.get(key)
        if holder is None:
            _TRAINING[key] = me
    if holder is not None:
        raise ConcurrentRunError(
            f"another distributed training of this process (thread {holder!r}; this is "
            f"{me!r}) is writing to the checkpoint directory {key}: two fits there prune and "
            "save over each other's checkpoints. Give each fit its own checkpoint directory "
            "(checkpoint_dir, paths.checkpoints), or run them one after the other"
        )
    try:
        with lock:
            yield
    finally:
        with _GUARD:
            del _TRAINING[key]
