"""Broadcasts of a lazy result, whose driver-side file is removed once Spark lets go.

PySpark writes every `sc.broadcast(value)` to a file in the driver's temporary directory
(`sc._temp_dir`, under `spark.local.dir`) and deletes it only in `Broadcast.destroy()` or
when the SparkContext stops. Spark's ContextCleaner frees the JVM's copy of a broadcast
once no plan refers to it, but not that file. A broadcast behind a DataFrame we hand back
(`transform`, `score_dataframe`) cannot be destroyed by us (the caller may read the
DataFrame at any time), so in a long-lived session each call left its model's payload on
the driver's disk until the session ended (138 KB a call for a [256, 128] network; a
notebook that scores in a loop filled the disk).

`broadcast(sc, value)` keeps a JVM weak reference to each broadcast it makes; the next
call (or `sweep(sc)`) deletes the files of those the JVM has collected: no Python object
and no plan refers to them any more, so no task can read the file again. A broadcast
whose lifetime the caller bounds (the trainers') is destroyed by it, as before; a block
that consumes its scored DataFrames before it ends (a tune trial's validation figures, a
backtest fold's test figures) runs inside `released()`, which destroys the broadcasts
made in it at its end: many trials in one process leave none, whenever the JVM collects.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from fraud_app.spark.connect import check_inline_size, is_connect

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_context: Any = None  # the SparkContext the entries belong to
_entries: list[tuple[Any, str]] = []  # (JVM WeakReference to the broadcast, its file)
_scope = threading.local()  # .made: the broadcasts of the innermost `released()` block


@contextlib.contextmanager
def released() -> Iterator[None]:
    """Destroy, when the block ends (also by an error), the broadcasts `broadcast()` made
    in it on this thread. Only for a block whose DataFrames are not read after it."""
    outer = getattr(_scope, "made", None)
    _scope.made = []
    try:
        yield
    finally:
        made, _scope.made = _scope.made, outer
        for bc in made:
            try:
                bc.destroy()
            except Exception as exc:  # a stopped context: PySpark removed the files
                logger.debug("could not destroy a broadcast: %s", exc)


class Inline:
    """A value shipped inside the task's function, read as `.value` like a broadcast's.

    Spark Connect has no broadcast variables (no SparkContext on the client): the value
    travels pickled with the UDF in the plan, once per query rather than once per
    executor. Used for a model's payload, kilobytes to a few megabytes."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def destroy(self) -> None:
        """Nothing to free: the value lives in the plan that holds it."""


def share(spark: Any, value: Any, what: str = "the model's payload") -> Any:
    """`value` for Spark tasks to read as `.value`: a broadcast (`broadcast`) on a classic
    session, an `Inline` copy in the task's function on a Spark Connect one (refused,
    naming `what` and its size, when it exceeds the server's request limit)."""
    if is_connect(spark):
        check_inline_size(spark, value, what)
        return Inline(value)
    return broadcast(spark.sparkContext, value)


def broadcast(sc: Any, value: Any) -> Any:
    """`sc.broadcast(value)`, its driver-side file removed by a later call once the JVM
    has collected the broadcast (module doc)."""
    sweep(sc)
    bc = sc.broadcast(value)
    made = getattr(_scope, "made", None)
    if made is not None:
        made.append(bc)
    path = getattr(bc, "_path", None)  # None: an encrypted broadcast served over a socket
    if path:
        ref = sc._jvm.java.lang.ref.WeakReference(bc._jbroadcast)
        with _lock:
            _adopt(sc)
            _entries.append((ref, path))
    return bc


def sweep(sc: Any) -> int:
    """Delete the files of this module's broadcasts that the JVM has collected; returns
    how many were deleted. Entries of a stopped SparkContext are dropped (PySpark removed
    its directory)."""
    with _lock:
        _adopt(sc)
        entries = list(_entries)
    if not entries:
        return 0
    gone = [entry for entry in entries if _collected(entry[0])]
    for _, path in gone:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # destroyed by its owner (Broadcast.destroy removes the file)
        except OSError as exc:  # never fail a scoring call over a temporary file
            logger.debug("could not remove broadcast file %s: %s", path, exc)
    with _lock:
        dropped = {id(e) for e in gone}
        _entries[:] = [e for e in _entries if id(e) not in dropped]
    return len(gone)


def tracked(sc: Any) -> int:
    """How many broadcast files of `sc` this module still holds (for tests)."""
    with _lock:
        _adopt(sc)
        return len(_entries)


def _adopt(sc: Any) -> None:
    """Start a new list when `sc` is another SparkContext than the entries' (lock held)."""
    global _context
    if _context is not sc:
        _context = sc
        _entries.clear()


def _collected(ref: Any) -> bool:
    try:
        return bool(ref.refersTo(None))
    except Exception:  # the gateway is gone (the context stopped): nothing to decide
        return False
