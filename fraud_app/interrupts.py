"""A stop request (SIGTERM, turned into `Terminated` by the CLI) held back across the few
renames that swap an output into place.

Owns `Terminated`, `stop` (what the CLI's signal handler calls) and `critical()`, and the
record of what a command has committed so far (`committed`, `unfinished`): a stop held
back until a commit was done was reported as "terminated before it finished: nothing is
left half-written", when the labels or ETL output was in fact complete. Does not own the
signal handler: the CLI installs it (libraries never set process-wide handlers).
A stop that lands between `rename(final, old)` and `rename(new, final)` left a table or a
scores partition missing until the next run's recovery put the old one back; inside
`critical()` it waits until both renames are done, then stops. Python runs signal handlers
in the main thread, where these swaps run.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator

_depth = 0  # critical sections open (main thread)
_pending: list[int] = []  # the signal held back, if any
# outputs swapped in whole by this command, in words; commits a stop cut short (bounded:
# a long-lived Python process that never runs the CLI's `forget` keeps only the last ones)
_committed: deque[str] = deque(maxlen=32)
_unfinished: deque[str] = deque(maxlen=32)


class Terminated(BaseException):
    """SIGTERM (a scheduler's stop, `kill`, a pod's shutdown) raised in the main thread.
    A BaseException, as KeyboardInterrupt is: no `except Exception` swallows it, and every
    cleanup path (`finally`, `with`, `except BaseException`) runs."""


def stop(signum: int) -> None:
    """Raise Terminated now, or when the open critical section ends."""
    if _depth:
        _pending.append(signum)
        return
    raise Terminated(signum)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Hold a stop back until the block ends (a stop is never lost: it is raised then)."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        held = list(_pending) if not _depth else []
        if not _depth:
            _pending.clear()  # also when the block raised: that error is the stop's now
    if held:
        raise Terminated(held[0])


def committed(what: str) -> None:
    """Record that output `what` (in words, naming its path) is now in place, complete."""
    _committed.append(what)


def unfinished(what: str) -> None:
    """Record that the commit of `what` was cut short (how to finish it, in words)."""
    _unfinished.append(what)


def progress() -> tuple[list[str], list[str]]:
    """(committed, unfinished) so far: what a stop's message must tell."""
    return list(_committed), list(_unfinished)


def forget() -> None:
    """A new command starts (the CLI's main): nothing committed yet."""
    _committed.clear()
    _unfinished.clear()
